// A transfer in a one-to-one conversation: the sender picks the recipient by name from Contacts, the
// recipient sees it waiting in Chats and accepts it from the bubble in their conversation; the sender's
// bubble changes without a reload.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { DESKTOP, PHONE, api, assertNoSidewaysScroll, launch, newUser, screenshot, see, signedIn } from './support.js';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

test('a transfer is sent to a contact by name and accepted from the conversation', async () => {
  const sender = await newUser('Chen Jie', 200_00);
  const recipient = await newUser('Liu Yang');
  await api('POST', '/v1/groups', sender.token, { name: 'Badminton', member_ids: [recipient.id] });

  const senderPage = await signedIn(browser, sender.token, { viewport: DESKTOP });
  await senderPage.click('[data-testid=tab-contacts]');
  await (await see(senderPage, '[data-testid="contact-Liu Yang"]')).click();
  await senderPage.click('[data-testid=person-chat]');
  await see(senderPage, '[data-testid=person-chat]');
  await senderPage.click('[data-testid=compose-transfer]');
  await senderPage.fill('[data-testid=transfer-amount-input]', '25.50');
  await senderPage.fill('[data-testid=transfer-form] input[name=memo]', 'Court fee 场地费');
  await senderPage.click('[data-testid=transfer-form] button[type=submit]');
  await see(senderPage, '[data-testid=transfer-bubble][data-status=pending]');

  // The recipient, on a phone, finds it waiting in Chats, and opens the conversation with the sender.
  const recipientPage = await signedIn(browser, recipient.token, { viewport: PHONE, locale: 'zh-CN' });
  const waiting = await see(recipientPage, '[data-testid=pending-received] [data-testid=pending-transfer]');
  assert.ok((await waiting.textContent()).includes('Chen Jie'));
  await screenshot(recipientPage, 'phone-chats');
  await assertNoSidewaysScroll(recipientPage);
  await waiting.locator('.row-main').click();
  const bubble = await see(recipientPage, '[data-testid=transfer-bubble][data-status=pending]', { text: '25.50' });
  await screenshot(recipientPage, 'phone-transfer-waiting');
  await bubble.locator('[data-testid=accept-transfer]').click();
  await see(recipientPage, '[data-testid=transfer-bubble][data-status=settled]');
  await see(recipientPage, '[data-testid=balance]', { text: '25.50' });

  // The sender's bubble says it arrived, and the notification says so by name.
  await see(senderPage, '[data-testid=transfer-bubble][data-status=settled]', { text: 'Liu Yang' });
  await senderPage.click('[data-testid=bell]');
  const words = await (await see(senderPage, '[data-testid=notification][data-type="transfer.settled"]')).textContent();
  assert.ok(words.includes('Liu Yang received your ¥25.50'), words);
  await screenshot(senderPage, 'desktop-notifications');
  await senderPage.click('[data-testid=bell]');
  await screenshot(senderPage, 'desktop-transfer-chat');

  // The wallet shows the money and the history in words; on a phone the chat is left first.
  await recipientPage.click('[data-testid=back]');
  await recipientPage.click('[data-testid=tab-wallet]');
  await see(recipientPage, '[data-testid=history] .list-row', { text: 'Chen Jie' });
  await screenshot(recipientPage, 'phone-wallet');
  await assertNoSidewaysScroll(recipientPage);
  // The language switch draws the page again in English, where it was.
  assert.equal(await recipientPage.locator('[data-testid=tab-wallet]').textContent(), '钱包');
  await recipientPage.click('.topbar .language-button');
  await see(recipientPage, '[data-testid=tab-wallet][aria-current]', { text: 'Wallet' });
  await see(recipientPage, '[data-testid=history] .list-row', { text: 'Transfer received' });
  await senderPage.click('[data-testid=tab-wallet]');
  await see(senderPage, '[data-testid=history] .list-row', { text: 'Liu Yang' });
  await screenshot(senderPage, 'desktop-wallet');
  await senderPage.done();
  await recipientPage.done();
});
