// Two people in one group by name. One sends a lucky packet; the other sees it appear without
// reloading and opens it; both see who got what by name, with the luckiest marked. The sender is on a
// desktop in English, the other on a phone in Chinese.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { DESKTOP, PHONE, assertNoSidewaysScroll, launch, newUser, screenshot, see, signedIn } from './support.js';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

test('a lucky packet appears live in the group and both see who got what by name', async () => {
  const alice = await newUser('Alice', 500_00);
  const bob = await newUser('李雷');

  // Alice picks her display name, then makes a group with Bob: his id is pasted this once.
  const alicePage = await signedIn(browser, alice.token, { viewport: DESKTOP, locale: 'en-GB' });
  await alicePage.click('[data-testid=tab-me]');
  await alicePage.fill('[data-testid=name-input]', 'Alice Wang');
  await alicePage.click('[data-testid=name-form] button[type=submit]');
  await see(alicePage, '[data-testid=my-name]', { text: 'Alice Wang' });
  await screenshot(alicePage, 'desktop-me');
  await alicePage.click('[data-testid=tab-chats]');
  await alicePage.click('[data-testid=new-group]');
  await alicePage.fill('[data-testid=group-name]', 'Family');
  await alicePage.click('.picker-more summary');
  await alicePage.fill('[data-testid=picker-id]', bob.id);
  await alicePage.click('#modal-body button[type=submit]');
  await see(alicePage, '[data-testid=group-chat]');

  // Bob, on his phone, opens the group; he knows it by its name and Alice by hers.
  const bobPage = await signedIn(browser, bob.token, { viewport: PHONE, locale: 'zh-CN' });
  await (await see(bobPage, '[data-testid="chat-Family"]')).click();
  await see(bobPage, '[data-testid=group-chat]');
  await bobPage.click('[data-testid=members]');
  await see(bobPage, '[data-testid=member-list]', { text: 'Alice Wang' });
  await bobPage.keyboard.press('Escape');

  // Alice sends a lucky packet of 10.00 in two shares.
  await alicePage.click('[data-testid=compose-packet]');
  await alicePage.fill('[data-testid=packet-amount]', '10.00');
  await alicePage.fill('[data-testid=packet-shares]', '2');
  await alicePage.fill('[data-testid=packet-greeting]', 'Happy new year 新年快乐');
  await alicePage.click('[data-testid=send-packet]');
  await see(alicePage, '[data-testid=packet-bubble]');

  // Bob sees it appear without reloading, and the bell counts it.
  const bubble = await see(bobPage, '[data-testid=packet-bubble]', { text: '新年快乐' });
  await see(bobPage, '[data-testid=bell-badge]');
  await screenshot(bobPage, 'phone-group-chat');
  await bubble.click();
  await (await see(bobPage, '[data-testid=open-packet]')).click();
  const won = await see(bobPage, '[data-testid=amount-won]');
  const bobsAmount = (await won.textContent()).replace('¥', '');
  await see(bobPage, '[data-testid=claim][data-name="李雷"]');

  // Alice opens her own packet too: the last share. She sees both claims by name and the luckiest.
  await alicePage.click('[data-testid=packet-bubble]');
  await see(alicePage, '[data-testid=claim][data-name="李雷"]');
  await alicePage.click('[data-testid=open-packet]');
  await see(alicePage, '[data-testid=claim][data-name="Alice Wang"]');
  await see(alicePage, '[data-testid=luckiest]');
  const aliceClaims = await alicePage.locator('[data-testid=claim]').allTextContents();
  assert.equal(aliceClaims.length, 2);
  assert.ok(aliceClaims.some(text => text.includes('李雷') && text.includes(bobsAmount)), `Bob's ${bobsAmount} by his name: ${aliceClaims}`);
  await screenshot(alicePage, 'desktop-packet-opened');

  // Bob's open sheet follows: Alice's claim appears by name, and the luckiest is marked for him too.
  await see(bobPage, '[data-testid=claim][data-name="Alice Wang"]');
  await see(bobPage, '[data-testid=luckiest]');
  await screenshot(bobPage, 'phone-packet-opened');
  await assertNoSidewaysScroll(bobPage);
  await bobPage.keyboard.press('Escape');
  await see(bobPage, '[data-testid=packet-bubble][data-status=exhausted]');

  // Bob's notifications say it in plain words.
  await bobPage.click('[data-testid=bell]');
  const words = await (await see(bobPage, '[data-testid=notification][data-type="packet.received"]')).textContent();
  assert.ok(words.includes('Alice Wang') && !words.includes('txn_'), words);
  await screenshot(bobPage, 'phone-notifications');
  await bobPage.click('[data-testid=bell]');

  await alicePage.keyboard.press('Escape');
  await screenshot(alicePage, 'desktop-group-chat');
  await alicePage.done();
  await bobPage.done();
});
