// What the end-to-end tests share: the server they test (started by .ci/browser), users made through
// the API, Debian's Chromium driven by playwright-core, a watch on every page that fails the test on a
// console error or a failed request the test did not provoke, and screenshots for the README.

import { mkdirSync } from 'node:fs';
import { chromium } from 'playwright-core';

export const BASE = process.env.HONGBAO_BASE_URL || 'http://127.0.0.1:8080';
export const ADMIN = process.env.HONGBAO_ADMIN_TOKEN || 'admin-secret';
/** Where screenshots go: the README's (docs/screenshots/) with `.ci/browser --update-screenshots`. */
const SCREENSHOTS = process.env.HONGBAO_SCREENSHOTS_DIR ? `${process.env.HONGBAO_SCREENSHOTS_DIR.replace(/\/$/, '')}/` : new URL('../output/screenshots/', import.meta.url).pathname;
export const PHONE = { width: 390, height: 844 };
export const DESKTOP = { width: 1280, height: 800 };

/** A request to the API, as the platform's backend or the admin makes it. */
export async function api(method, path, token, body) {
  const response = await fetch(BASE + path, {
    method, headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', 'Idempotency-Key': crypto.randomUUID() },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/** A user made by the admin, with `money` minor units in their wallet. */
export async function newUser(name, money = 0) {
  const user = await api('POST', '/v1/users', ADMIN, { name });
  if (money > 0) await api('POST', '/v1/top-ups', ADMIN, { user_id: user.id, amount: money, reference: `e2e-${crypto.randomUUID()}` });
  return user;
}

export async function newOperator(name, role) {
  return api('POST', '/v1/ops/operators', ADMIN, { name, role });
}

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--disable-dev-shm-usage', '--font-render-hinting=none'],
  });
}

/**
 * A page signed in with `token`, in a context of its own (its own storage), watched: every console
 * error, page error, failed request and answer of 400 or more is recorded, unless the test said it
 * provokes it with `page.provoke(status, path)`. `assertClean()` fails the test on what was recorded.
 */
export async function signedIn(browser, token, { viewport = DESKTOP, locale = 'en-GB' } = {}) {
  const context = await browser.newContext({ viewport, locale, deviceScaleFactor: 1, reducedMotion: 'reduce' });
  const page = await context.newPage();
  const problems = [];
  const provoked = [];
  let closing = false;
  const expected = (status, url) => provoked.some(allowed => allowed.status === status && url.includes(allowed.path));
  page.on('pageerror', error => problems.push(`page error: ${error.message}`));
  page.on('console', message => {
    if (message.type() !== 'error') return;
    const status = Number((/status of (\d{3})/.exec(message.text()) || [])[1]);
    if (status && expected(status, message.location()?.url || '')) return;
    problems.push(`console error: ${message.text()} at ${message.location()?.url || '?'}`);
  });
  page.on('requestfailed', request => {
    const failure = request.failure()?.errorText || '';
    // A live stream is aborted when its page closes or goes away; that is no failure.
    if (failure.includes('ERR_ABORTED') && (closing || request.url().includes('/v1/events/stream'))) return;
    problems.push(`request failed: ${request.method()} ${request.url()} ${failure}`);
  });
  page.on('response', response => {
    if (response.status() >= 400 && !expected(response.status(), response.url())) problems.push(`answer ${response.status()}: ${response.request().method()} ${response.url()}`);
  });
  page.provoke = (status, path) => provoked.push({ status, path });
  page.assertClean = () => {
    if (problems.length) throw new Error(`the page had problems:\n${problems.join('\n')}`);
  };
  page.done = async () => {
    page.assertClean();
    closing = true;
    await context.close();
  };
  await page.goto(`${BASE}/`);
  await page.fill('[data-testid=token]', token);
  await page.click('[data-testid=sign-in]');
  return page;
}

/** A screenshot for the README, under docs/screenshots/, of the top of the page. */
export async function screenshot(page, name, { keepToasts = false } = {}) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  // Confirmations that come and go are not part of a screen, unless the screen is about one.
  if (!keepToasts) await page.evaluate(() => document.querySelectorAll('.toast').forEach(toast => toast.remove()));
  // A focus ring left by the last key press is not part of a screen either.
  await page.evaluate(() => {
    window.scrollTo(0, 0);
    document.activeElement?.blur();
  });
  await page.waitForTimeout(150);
  await page.screenshot({ path: `${SCREENSHOTS}${name}.png`, animations: 'disabled', caret: 'hide' });
}

/** Fails unless nothing on the page is wider than its viewport (nothing scrolls sideways). */
export async function assertNoSidewaysScroll(page) {
  const { scrollWidth, width } = await page.evaluate(() => ({ scrollWidth: document.documentElement.scrollWidth, width: window.innerWidth }));
  if (scrollWidth > width) throw new Error(`the page is ${scrollWidth} px wide in a ${width} px viewport`);
}

/** Waits for an element with a deadline; `text` narrows to one containing it. */
export async function see(page, selector, { text, timeout = 10_000 } = {}) {
  const locator = text ? page.locator(selector, { hasText: text }) : page.locator(selector);
  await locator.first().waitFor({ state: 'visible', timeout });
  return locator.first();
}
