// The operators' console and the admin page on a phone and a desktop: a reviewer finds a user by name
// and freezes the account from a phone; the user sees the refusal when paying, and the notification.
// At 1280 px a case's freeze table keeps its Lift button on screen; at 390 px nothing scrolls
// sideways; Sign out can be read.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ADMIN, BASE, DESKTOP, PHONE, api, assertNoSidewaysScroll, launch, newOperator, newUser, screenshot, see, signedIn } from './support.js';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

/** Fails unless the Sign out button is shown and its text stands out from what is behind it (WCAG AA, 4.5:1). */
async function assertSignOutReadable(page) {
  const button = await see(page, '[data-testid=sign-out]');
  const ratio = await button.evaluate(element => {
    const rgb = text => text.match(/[\d.]+/g).slice(0, 4).map(Number);
    const luminance = ([red, green, blue]) => {
      const linear = value => (value / 255 <= 0.03928 ? value / 255 / 12.92 : ((value / 255 + 0.055) / 1.055) ** 2.4);
      return 0.2126 * linear(red) + 0.7152 * linear(green) + 0.0722 * linear(blue);
    };
    let behind = element;
    while (behind && (rgb(getComputedStyle(behind).backgroundColor)[3] ?? 1) === 0) behind = behind.parentElement;
    const [text, background] = [luminance(rgb(getComputedStyle(element).color)), luminance(rgb(getComputedStyle(behind).backgroundColor))];
    return (Math.max(text, background) + 0.05) / (Math.min(text, background) + 0.05);
  });
  assert.ok(ratio >= 4.5, `Sign out's contrast is ${ratio.toFixed(2)}:1`);
}

/** A fraud complaint by `complainant` about their transfer to `respondent`, with a chat record. */
async function fraudCase(complainant, respondent) {
  const transfer = await api('POST', '/v1/transfers', complainant.token, { recipient_id: respondent.id, amount: 88_00, arrival: 'instant', memo: 'deposit' });
  const settled = await api('POST', `/v1/transfers/${transfer.id}/accept`, respondent.token);
  const form = new FormData();
  form.append('label', 'chat_record');
  form.append('file', new Blob(['respondent: pay the deposit first, the phone ships tomorrow\n'], { type: 'text/plain' }), 'chat.txt');
  const upload = await fetch(`${BASE}/v1/evidence`, { method: 'POST', headers: { Authorization: `Bearer ${complainant.token}` }, body: form });
  const evidence = await upload.json();
  return api('POST', '/v1/complaints', complainant.token, { kind: 'fraud', txn_nos: [settled.txn_nos[1]], description: 'Paid a deposit for a phone that never came.', evidence_ids: [evidence.id] });
}

test('a reviewer freezes an account from a phone and the user sees the refusal', async () => {
  const frozen = await newUser('Zhang Wei', 300_00);
  const friend = await newUser('Sun Li', 50_00);
  const group = await api('POST', '/v1/groups', frozen.token, { name: 'Neighbours', member_ids: [friend.id] });
  await api('POST', '/v1/transfers', friend.token, { recipient_id: frozen.id, amount: 12_00, arrival: 'instant' });
  const complaint = await fraudCase(frozen, friend);
  const reviewer = await newOperator('Rita', 'reviewer');

  // On a desktop, the case: freezing its respondent from the case, whose freeze table keeps Lift on screen.
  const desk = await signedIn(browser, reviewer.token, { viewport: DESKTOP });
  await see(desk, '[data-testid=nav-cases]');
  await assertSignOutReadable(desk);
  await (await see(desk, 'tr.clickable', { text: 'Zhang Wei' })).click();
  await see(desk, '#case-detail', { text: 'Sun Li' });
  await desk.click('#case-detail button:has-text("Freeze a respondent")');
  await desk.fill('#modal-body textarea[name=reason]', 'Fraud report with a chat record');
  await desk.click('#modal-body button[type=submit]');
  const lift = await see(desk, '#case-detail [data-testid=lift]');
  const box = await lift.boundingBox();
  assert.ok(box && box.x >= 0 && box.x + box.width <= DESKTOP.width, `Lift is on screen: ${JSON.stringify(box)}`);
  await screenshot(desk, 'desktop-console-case');
  await desk.done();

  // On a phone, a reviewer finds Zhang Wei by name and freezes the whole wallet.
  const phone = await signedIn(browser, reviewer.token, { viewport: PHONE, locale: 'zh-CN' });
  await see(phone, '[data-testid=nav-people]');
  await assertSignOutReadable(phone);
  await assertNoSidewaysScroll(phone);
  await screenshot(phone, 'phone-console-cases');
  await phone.click('[data-testid=nav-people]');
  await phone.fill('[data-testid=user-search]', 'zhang');
  await phone.press('[data-testid=user-search]', 'Enter');
  await (await see(phone, '[data-testid="user-Zhang Wei"]')).click();
  await see(phone, '[data-testid=user-page]', { text: 'Zhang Wei' });
  await phone.click('[data-testid=freeze-user]');
  await phone.fill('#modal-body textarea[name=reason]', '可疑交易，人工复核');
  await phone.click('#modal-body button[type=submit]');
  await see(phone, '[data-testid=user-page] [data-testid=freeze-row]', { text: '可疑交易' });
  await see(phone, '[data-testid=user-page] [data-testid=lift]');
  await assertNoSidewaysScroll(phone);
  await screenshot(phone, 'phone-console-freeze');
  await phone.done();

  // Zhang Wei hears of it in plain words, and a payment is refused with the reason said plainly.
  const user = await signedIn(browser, frozen.token, { viewport: PHONE });
  await see(user, '[data-testid=bell-badge].alert');
  await user.click('[data-testid=bell]');
  await see(user, '[data-testid=notification][data-type="freeze.placed"]', { text: 'No money can leave your wallet' });
  await user.click('[data-testid=bell]');
  await (await see(user, '[data-testid="chat-Neighbours"]')).click();
  await user.click('[data-testid=compose-packet]');
  await user.fill('[data-testid=packet-amount]', '1.00');
  await user.fill('[data-testid=packet-shares]', '1');
  user.provoke(409, '/v1/packets');
  await user.click('[data-testid=send-packet]');
  await see(user, '.toast.error', { text: 'Your wallet is frozen' });
  await user.click('#modal-close');
  await screenshot(user, 'phone-frozen-refusal', { keepToasts: true });
  await user.done();
  assert.equal(group.name, 'Neighbours');
  assert.ok(complaint.id);
});

test('the admin page fits a phone and a desktop, and finds users by name for a top-up', async () => {
  const someone = await newUser('Zhou Xun');
  for (const [viewport, name] of [[DESKTOP, 'desktop-admin'], [PHONE, 'phone-admin']]) {
    const page = await signedIn(browser, ADMIN, { viewport });
    await see(page, '[data-testid=top-up-user]');
    await assertSignOutReadable(page);
    await assertNoSidewaysScroll(page);
    await page.fill('[data-testid=top-up-user]', 'zhou');
    await page.press('[data-testid=top-up-user]', 'Enter');
    await see(page, '.picker-row', { text: 'Zhou Xun' });
    await page.fill('form:has([data-testid=top-up-user]) input[name=amount]', '20.00');
    await page.fill('form:has([data-testid=top-up-user]) input[name=reference]', `bank-${name}`);
    await page.click('form:has([data-testid=top-up-user]) button[type=submit]');
    await see(page, '.toast.ok', { text: '20.00' });
    await screenshot(page, name);
    await page.done();
  }
  const wallet = await api('GET', `/v1/ops/users/${someone.id}/wallet`, ADMIN);
  assert.equal(wallet.balance, 40_00);
});
