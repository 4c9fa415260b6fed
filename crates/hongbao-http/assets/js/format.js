// Money, times and countdowns as people read them. Pure functions: no page, no clock of their own
// (the time is passed in), so they are tested with Node (browser-tests/unit).

/** Minor units (an integer or a string of digits) as a decimal with two digits: 123456 → "1,234.56". */
export function formatMoney(minor) {
  if (minor == null || minor === '') return '—';
  let digits = String(minor);
  const negative = digits.startsWith('-');
  if (negative) digits = digits.slice(1);
  if (!/^\d+$/.test(digits)) return String(minor);
  digits = digits.replace(/^0+(?=\d)/, '').padStart(3, '0');
  const whole = digits.slice(0, -2).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${negative && /[1-9]/.test(digits) ? '-' : ''}${whole}.${digits.slice(-2)}`;
}

/** With a sign: "+12.00", "-3.50", "0.00". */
export function formatSigned(minor) {
  return `${Number(minor) > 0 ? '+' : ''}${formatMoney(minor)}`;
}

/** With the currency's symbol: "¥12.00" for CNY, "USD 12.00" otherwise. */
export function formatCurrency(minor, currency = 'CNY') {
  const symbol = currency === 'CNY' ? '¥' : `${currency} `;
  const text = formatMoney(minor);
  return text.startsWith('-') ? `-${symbol}${text.slice(1)}` : `${symbol}${text}`;
}

/**
 * A typed amount ("12.34", "¥1,000", "0.5") as minor units, exactly: no float ever holds money.
 * Throws an Error whose message names the problem.
 */
export function parseMoney(input) {
  const text = String(input).trim().replace(/[,\s_]/g, '').replace(/^[¥￥]/, '');
  const match = /^(\d*)(?:\.(\d{0,2}))?$/.exec(text);
  if (!match || !/\d/.test(text)) throw new Error('not_an_amount');
  const digits = (match[1] + (match[2] || '').padEnd(2, '0')).replace(/^0+(?=\d)/, '');
  if (digits.length > 13) throw new Error('amount_too_large');
  return Number(digits); // at most 13 digits: exact in a double
}

/** "1:05", "12:00", "1:00:00": the time left of a countdown, in whole seconds, rounded up. */
export function formatCountdown(milliseconds) {
  const seconds = Math.max(0, Math.ceil(milliseconds / 1000));
  const hours = Math.floor(seconds / 3600);
  const minutes = Math.floor(seconds / 60) % 60;
  const rest = String(seconds % 60).padStart(2, '0');
  return hours > 0 ? `${hours}:${String(minutes).padStart(2, '0')}:${rest}` : `${minutes}:${rest}`;
}

/** The locale the page's language formats times in. */
const LOCALES = { zh: 'zh-CN', en: 'en-GB' };

/** A time as people read it: "14:05" today, "3 Mar 14:05" this year, with the year otherwise. */
export function formatTime(iso, language = 'en', now = new Date()) {
  if (!iso) return '—';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  const locale = LOCALES[language] || LOCALES.en;
  const time = date.toLocaleTimeString(locale, { hour: '2-digit', minute: '2-digit' });
  if (date.toDateString() === now.toDateString()) return time;
  const options = { month: 'short', day: 'numeric', ...(date.getFullYear() === now.getFullYear() ? {} : { year: 'numeric' }) };
  return `${date.toLocaleDateString(locale, options)} ${time}`;
}

/** An id shortened for display where there is no name: "usr_23ocnz…". */
export function shortId(id) {
  return id && id.length > 12 ? `${id.slice(0, 10)}…` : id || '—';
}

/** Event ids are increasing decimal integers, maybe beyond 2^53: compared as digit strings. */
export function eventIdAfter(candidate, current) {
  if (!current) return true;
  return candidate.length > current.length || (candidate.length === current.length && candidate > current);
}
