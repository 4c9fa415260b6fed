// The page's shared pieces: toasts, the modal and the confirm dialog, forms whose fields are read and
// converted once (money exactly), status badges, avatars, key-value lists and empty states.

import { ApiError, uuid } from './api.js';
import { $, add, h, replace } from './dom.js';
import { formatCurrency, formatTime, parseMoney } from './format.js';
import { icon } from './icons.js';
import { language, t } from './i18n.js';

// ---- toasts ----

/** A short message at the top that goes away by itself; `kind` is '', 'ok' or 'error'. */
export function toast(message, kind = '') {
  const element = h('div', { class: `toast ${kind}`, role: kind === 'error' ? 'alert' : 'status' },
    h('span', { class: 'grow', text: message }),
    h('button', { class: 'icon-button', type: 'button', 'aria-label': t('Dismiss'), onclick: () => element.remove() }, icon('close', { size: 16 })));
  const toasts = $('#toasts');
  toasts.append(element);
  // At most three at once: a burst of confirmations must not cover the page.
  while (toasts.children.length > 3) toasts.firstElementChild.remove();
  setTimeout(() => element.remove(), kind === 'error' ? 7000 : 3000);
}

/** What a refusal means, in words, by its stable code. */
const REFUSALS = {
  insufficient_funds: 'Not enough available balance.',
  account_frozen: 'Your wallet is frozen: no money can leave it now.',
  limit_exceeded: 'This is over a limit of your account.',
  already_claimed: 'You have already opened this red packet.',
  packet_exhausted: 'Too late: every share has been claimed.',
  packet_expired: 'This red packet has expired; what was left went back to the sender.',
  packet_recalled: 'The sender recalled this red packet.',
  not_in_audience: 'This red packet is not for you.',
  invalid_state: 'This can no longer be done.',
  not_found: 'Not found, or not yours to see.',
  forbidden: 'You may not do this.',
  unauthorized: 'Your token is not accepted; sign in again.',
  network_error: 'Could not reach the server; nothing was done. Try again.',
  balance_limit_exceeded: 'The wallet would hold more than it may.',
  too_many_streams: 'Too many windows are open for this account.',
};

/** The words for an error: what it means when its code is known, else the server's own detail. */
export function errorText(error) {
  if (error instanceof ApiError) {
    const known = REFUSALS[error.code];
    if (known && error.code !== 'invalid_state') return t(known);
    return error.code === 'validation_failed' || !known ? error.message : `${t(known)} ${error.message}`;
  }
  const messages = { not_an_amount: 'Enter an amount such as 12.34.', amount_too_large: 'This amount is too large.' };
  return messages[error.message] ? t(messages[error.message]) : error.message || String(error);
}

export function showError(error) {
  toast(errorText(error), 'error');
}

// ---- modal and confirm ----

let modalClose = null;

/** Opens the modal with a title and content; returns its body. `onClose` runs once when it closes. */
export function openModal(title, content, { onClose, wide = false } = {}) {
  const dialog = $('#modal');
  if (modalClose) {
    const previous = modalClose;
    modalClose = null;
    previous();
  }
  $('#modal-title').textContent = title;
  dialog.classList.toggle('wide', wide);
  const body = replace($('#modal-body'), content);
  delete body.dataset.packet;
  modalClose = onClose || null;
  if (!dialog.open) dialog.showModal();
  return body;
}

export function closeModal() {
  const dialog = $('#modal');
  if (dialog.open) dialog.close();
}

let modalWired = false;

/** Wires the modal: its close button, the backdrop and Escape close it. Again after a language switch, only the label changes. */
export function setUpModal() {
  const dialog = $('#modal');
  replace($('#modal-close'), icon('close'));
  $('#modal-close').setAttribute('aria-label', t('Close'));
  if (modalWired) return;
  modalWired = true;
  $('#modal-close').addEventListener('click', closeModal);
  dialog.addEventListener('click', event => {
    if (event.target === dialog) closeModal();
  });
  dialog.addEventListener('close', () => {
    const onClose = modalClose;
    modalClose = null;
    onClose?.();
  });
}

/** Asks a yes-or-no question in a dialog of its own; resolves true only for the confirm button. */
export function ask(question, confirmLabel, { danger = false, detail = '' } = {}) {
  return new Promise(resolve => {
    const dialog = h('dialog', { class: 'confirm', 'aria-label': question });
    let answered = false;
    const finish = answer => {
      if (answered) return;
      answered = true;
      resolve(answer);
      dialog.close();
      dialog.remove();
    };
    const yes = h('button', { class: `btn ${danger ? 'danger-solid' : 'primary'}`, type: 'button', text: confirmLabel, onclick: () => finish(true), dataset: { testid: 'confirm-yes' } });
    add(dialog, [h('p', { class: 'confirm-question', text: question }), detail ? h('p', { class: 'muted small', text: detail }) : null,
      h('div', { class: 'actions' }, h('button', { class: 'btn', type: 'button', text: t('Cancel'), onclick: () => finish(false) }), yes)]);
    dialog.addEventListener('close', () => finish(false));
    document.body.append(dialog);
    dialog.showModal();
    yes.focus();
  });
}

// ---- small pieces ----

/** A status as a coloured badge, in words. */
export function badge(status, text) {
  return h('span', { class: `badge badge-${status}`, text: text || statusText(status) });
}

const STATUS_WORDS = {
  open: 'Open', exhausted: 'All claimed', expired: 'Expired', recalled: 'Recalled', pending: 'Pending', accepted: 'Accepted', settled: 'Received',
  returned: 'Returned', cancelled: 'Cancelled', declined: 'Declined', submitted: 'Submitted', needs_evidence: 'Needs evidence', under_review: 'Under review',
  resolved: 'Resolved', refunded: 'Refunded', partially_refunded: 'Partly refunded', rejected: 'Rejected', referred: 'Referred', active: 'Active', lifted: 'Lifted',
  approved: 'Approved', executed: 'Executed', overdue: 'Overdue', disabled: 'Disabled', revoked: 'Revoked', delivered: 'Delivered', failed: 'Failed',
  support: 'Support', reviewer: 'Reviewer', legal: 'Legal', auditor: 'Auditor', admin: 'Admin', full: 'Everything', hold: 'An amount',
};

export function statusText(status) {
  return STATUS_WORDS[status] ? t(STATUS_WORDS[status]) : String(status ?? '—').replace(/_/g, ' ');
}

/** Pairs of label and value as a definition list; pairs with an empty value are left out. */
export function keyValues(pairs) {
  return h('dl', { class: 'key-values' }, pairs.filter(pair => pair && pair[1] != null && pair[1] !== '').map(([label, value]) => [h('dt', { text: label }), h('dd', {}, value)]));
}

export function emptyState(text) {
  return h('div', { class: 'empty', text });
}

export function loading() {
  return h('div', { class: 'empty', text: t('Loading…') });
}

/** The initials of a name for an avatar: the first character of a Chinese name, up to two letters of a Latin one. */
export function initials(name) {
  const text = String(name || '?').trim();
  if (!text) return '?';
  const words = text.split(/\s+/).filter(Boolean);
  if (/^[A-Za-z]/.test(text) && words.length > 1) return (words[0][0] + words[1][0]).toUpperCase();
  return [...text][0].toUpperCase();
}

/** The colour of an avatar, one of eight, fixed for an id. */
export function avatarHue(id) {
  let hash = 0;
  for (const char of String(id || '')) hash = (hash * 31 + char.charCodeAt(0)) >>> 0;
  return hash % 8;
}

export function avatar(name, id, size = 'medium') {
  return h('span', { class: `avatar avatar-${size} hue-${avatarHue(id || name)}`, 'aria-hidden': 'true', text: initials(name) });
}

/** A time in the page's language. */
export function when(iso) {
  return formatTime(iso, language());
}

/** An amount of the deployment's currency. */
export function money(minor, currency = 'CNY') {
  return formatCurrency(minor, currency);
}

/** Copies text, saying so; on failure the text is left selected in `input` for the user to copy. */
export async function copyText(text, done, input) {
  try {
    await navigator.clipboard.writeText(text);
    toast(done, 'ok');
  } catch {
    input?.focus();
    input?.select();
    toast(t('Could not copy: the text is selected, press Ctrl+C.'), 'error');
  }
}

// ---- forms ----

let fieldSequence = 0;

/**
 * A form field, described once: `{ name, label, type, required, max, min, placeholder, hint, options,
 * value, readonly }`; `type` is text (the default), money, number, select, textarea or datetime.
 */
export function field(description) {
  const id = `field-${++fieldSequence}`;
  const common = { id, name: description.name, required: !!description.required, placeholder: description.placeholder, 'aria-describedby': description.hint ? `${id}-hint` : null };
  let input;
  if (description.type === 'select') {
    input = h('select', common, description.options.map(([value, label]) => h('option', { value, text: label, selected: value === description.value })));
  } else if (description.type === 'textarea') {
    input = h('textarea', { ...common, maxlength: description.max, value: description.value || '' });
  } else {
    const types = { money: 'text', number: 'number', datetime: 'datetime-local' };
    input = h('input', {
      ...common, type: types[description.type] || 'text', inputmode: description.type === 'money' ? 'decimal' : description.type === 'number' ? 'numeric' : null,
      min: description.min, max: description.type === 'number' ? description.max : null, maxlength: description.type === 'number' ? null : description.max,
      value: description.value ?? '', readOnly: !!description.readonly, autocomplete: 'off', dataset: description.testid ? { testid: description.testid } : null,
    });
  }
  // A choice always has a value: only a box the user may leave empty is marked optional.
  const optional = !description.required && description.type !== 'select';
  return h('label', { class: 'field', for: id }, h('span', { class: 'field-label', text: optional ? `${description.label} ${t('(optional)')}` : description.label }), input,
    description.hint ? h('small', { class: 'hint', id: `${id}-hint`, text: description.hint }) : null);
}

/** The values of a form's fields, converted: money to minor units, numbers to integers, times to RFC 3339. */
export function readFields(form, descriptions) {
  const values = {};
  for (const description of descriptions) {
    const element = form.elements[description.name];
    if (!element || element.closest('[hidden]')) continue;
    const raw = element.value.trim();
    if (raw === '') {
      if (description.required) throw new Error(t('{field} is required', { field: description.label }));
      continue;
    }
    if (description.type === 'money') {
      const amount = parseMoney(raw);
      if (amount <= 0) throw new Error(t('{field} must be more than 0', { field: description.label }));
      values[description.name] = amount;
    } else if (description.type === 'number') values[description.name] = parseInt(raw, 10);
    else if (description.type === 'datetime') values[description.name] = new Date(raw).toISOString().replace(/\.\d{3}Z$/, 'Z');
    else values[description.name] = raw;
  }
  return values;
}

/**
 * Submits a form through `handler(idempotencyKey)`, once at a time. The key survives a network
 * failure (the retry may be the same request) and is renewed after any answer.
 */
export function bindSubmit(form, handler) {
  let key = uuid();
  form.addEventListener('submit', async event => {
    event.preventDefault();
    if (form.dataset.busy) return;
    const buttons = [...form.querySelectorAll('button[type=submit]')];
    form.dataset.busy = '1';
    buttons.forEach(button => (button.disabled = true));
    try {
      await handler(key);
      key = uuid();
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 0)) key = uuid();
      showError(error);
    } finally {
      delete form.dataset.busy;
      buttons.forEach(button => (button.disabled = false));
    }
  });
  return form;
}

/** A form of described fields with a submit button; `onValues(values, key, form)` does the work. */
export function makeForm(descriptions, submitLabel, onValues, extra, { testid } = {}) {
  const form = h('form', { class: 'form', novalidate: true, dataset: testid ? { testid } : null }, descriptions.map(field), extra,
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'btn primary', text: submitLabel })));
  return bindSubmit(form, key => onValues(readFields(form, descriptions), key, form));
}

/** A form in the modal, closed when `onValues` succeeds (unless it returns false). */
export function formModal(title, descriptions, submitLabel, onValues, intro) {
  const form = makeForm(descriptions, submitLabel, async (values, key, element) => {
    const result = await onValues(values, key, element);
    if (result !== false) closeModal();
  });
  openModal(title, [intro ? h('p', { class: 'muted small', text: intro }) : null, form]);
  form.querySelector('input:not([readonly]),select,textarea')?.focus();
  return form;
}
