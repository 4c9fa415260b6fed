// A timed packet counts down in the chat and, when nobody opens it in time, shows as refunded on both
// sides without a reload. The test server allows countdowns of 2 seconds (HONGBAO_TIMED_MIN_SECONDS).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { DESKTOP, PHONE, api, launch, newUser, screenshot, see, signedIn } from './support.js';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

test('a timed packet counts down and shows as refunded when its time is up', async () => {
  const sender = await newUser('Wang Fang', 100_00);
  const member = await newUser('Zhao Min');
  const group = await api('POST', '/v1/groups', sender.token, { name: 'Office', member_ids: [member.id] });

  const senderPage = await signedIn(browser, sender.token, { viewport: DESKTOP, locale: 'zh-CN' });
  await (await see(senderPage, '[data-testid="chat-Office"]')).click();
  const memberPage = await signedIn(browser, member.token, { viewport: PHONE, locale: 'en-GB' });
  await (await see(memberPage, '[data-testid="chat-Office"]')).click();
  await see(memberPage, '[data-testid=group-chat]');

  await senderPage.click('[data-testid=compose-packet]');
  await senderPage.click('[data-testid=kind-timed]');
  await senderPage.fill('[data-testid=packet-amount]', '6.00');
  await senderPage.fill('[data-testid=packet-shares]', '2');
  await senderPage.fill('[data-testid=packet-countdown]', '6');
  await senderPage.fill('[data-testid=packet-greeting]', 'Quick, 6 seconds!');
  await senderPage.click('[data-testid=send-packet]');

  // The member sees it arrive with its countdown running.
  const bubble = await see(memberPage, '[data-testid=packet-bubble][data-status=open]', { text: 'Quick' });
  const first = await bubble.locator('[data-testid=countdown]').textContent();
  assert.match(first, /0:0\d left/);
  await screenshot(memberPage, 'phone-timed-countdown');
  // It moves on by itself, second by second (waited for with a deadline, not a fixed sleep).
  await memberPage.waitForFunction(shown => {
    const countdown = document.querySelector('[data-testid=packet-bubble][data-status=open] [data-testid=countdown]');
    return countdown && countdown.textContent !== shown;
  }, first, { timeout: 5_000 });

  // Nobody opens it: both see it expired and refunded, without reloading.
  await see(memberPage, '[data-testid=packet-bubble][data-status=expired]', { timeout: 15_000 });
  await see(senderPage, '[data-testid=packet-bubble][data-status=expired]', { timeout: 15_000 });
  const state = await senderPage.locator('[data-testid=packet-bubble][data-status=expired] [data-testid=packet-state]').textContent();
  assert.ok(state.includes('退回'), `the sender reads that it was refunded: ${state}`);
  await see(senderPage, '[data-testid=bell-badge]');
  await screenshot(senderPage, 'desktop-timed-refunded');
  await senderPage.done();
  await memberPage.done();
});
