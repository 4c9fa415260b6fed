// Money is exact from end to end: amounts are parsed and formatted as digits, never as floats.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventIdAfter, formatCountdown, formatCurrency, formatMoney, formatSigned, parseMoney } from '../../crates/hongbao-http/assets/js/format.js';

test('minor units read as decimals with two digits', () => {
  assert.equal(formatMoney(0), '0.00');
  assert.equal(formatMoney(5), '0.05');
  assert.equal(formatMoney(123456), '1,234.56');
  assert.equal(formatMoney('-100'), '-1.00');
  assert.equal(formatMoney('1000000000000'), '10,000,000,000.00');
  assert.equal(formatMoney(null), '—');
  assert.equal(formatSigned(250), '+2.50');
  assert.equal(formatSigned(-250), '-2.50');
  assert.equal(formatCurrency(1999, 'CNY'), '¥19.99');
  assert.equal(formatCurrency(-1999, 'CNY'), '-¥19.99');
  assert.equal(formatCurrency(1999, 'USD'), 'USD 19.99');
});

test('typed amounts parse exactly, and nonsense is refused', () => {
  assert.equal(parseMoney('12.34'), 1234);
  assert.equal(parseMoney('¥1,000'), 100000);
  assert.equal(parseMoney('0.1'), 10);
  assert.equal(parseMoney(' 7 '), 700);
  assert.equal(parseMoney('.5'), 50);
  assert.equal(parseMoney('0.29'), 29, 'no float rounding: 0.29 * 100 is 28.999… in floating point');
  for (const bad of ['', '1.234', 'abc', '1e3', '-5', '1.2.3', '99999999999999']) assert.throws(() => parseMoney(bad), bad);
});

test('countdowns round up to whole seconds', () => {
  assert.equal(formatCountdown(65_000), '1:05');
  assert.equal(formatCountdown(64_001), '1:05');
  assert.equal(formatCountdown(3_600_000), '1:00:00');
  assert.equal(formatCountdown(-5), '0:00');
});

test('event ids compare as numbers beyond 2^53', () => {
  assert.ok(eventIdAfter('10', '9'));
  assert.ok(!eventIdAfter('9', '10'));
  assert.ok(eventIdAfter('90071992547409930', '90071992547409929'));
  assert.ok(eventIdAfter('1', null));
});
