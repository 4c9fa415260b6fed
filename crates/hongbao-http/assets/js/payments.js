// Paying: a payment at or above the platform's threshold asks to be confirmed (三确认) with the
// recipient, the amount and the context shown; limits and freezes are said in plain words.

import { ApiError, api } from './api.js';
import { h } from './dom.js';
import { formatTime } from './format.js';
import { icon } from './icons.js';
import { language, t } from './i18n.js';
import { closeModal, money, openModal, toast } from './ui.js';

/**
 * Sends a transfer or a packet. A 409 confirmation_required shows what is paid to whom; on Confirm
 * the same body goes again with the Confirmation-Token under the same Idempotency-Key, so a retry
 * after a lost answer replays the payment instead of making a second one. Null when the payer
 * cancels.
 */
export async function pay(app, path, body, key) {
  let headers;
  for (;;) {
    try {
      return await api('POST', path, body, { key, headers });
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      const confirmation = error.problem?.confirmation;
      if (error.code !== 'confirmation_required' || !confirmation?.token) throw error;
      if (!(await confirmPayment(app, confirmation))) {
        toast(t('Not sent: you cancelled the payment.'));
        return null;
      }
      headers = { 'Confirmation-Token': confirmation.token };
    }
  }
}

/** Resolves true only on the Confirm button; Cancel, Escape, the backdrop and expiry all mean no. */
function confirmPayment(app, confirmation) {
  return new Promise(resolve => {
    const group = confirmation.audience_kind === 'group';
    let done = false;
    let timer = 0;
    const finish = yes => {
      if (done) return;
      done = true;
      clearInterval(timer);
      resolve(yes);
      closeModal();
    };
    const amount = money(confirmation.amount, app.currency);
    const confirm = h('button', { class: 'btn primary', type: 'button', text: t('Confirm and pay {amount}', { amount }), onclick: () => finish(true), dataset: { testid: 'confirm-payment' } });
    const step = (label, ...value) => h('li', {}, h('b', { text: label }), h('div', { class: 'grow' }, value));
    openModal(t('Confirm this payment'), [
      h('div', { class: 'confirm-amount', text: amount }),
      h('ol', { class: 'confirm-steps' },
        step(group ? t('Group') : t('To'), h('b', { text: confirmation.audience_name || '—' })),
        step(t('Amount'), amount, group ? h('div', { class: 'small muted', text: t('In total, shared among those who open it') }) : null),
        step(t('Who'), group ? t('Everyone in the group ({count} members)', { count: confirmation.audience_size ?? '?' }) : t('One person')),
        step(group ? t('Greeting') : t('Memo'), confirmation.memo || t('(none)')),
        step(t('Valid until'), formatTime(confirmation.expires_at, language()))),
      h('p', { class: 'warning-note' }, icon('warning', { size: 16 }), t('Never pay because a stranger, "customer service" or "the police" asked you to over chat or phone.')),
      h('div', { class: 'actions' }, h('button', { class: 'btn', type: 'button', text: t('Cancel'), onclick: () => finish(false) }), confirm),
    ], { onClose: () => finish(false) });
    timer = setInterval(() => {
      if (new Date(confirmation.expires_at) <= Date.now()) {
        confirm.disabled = true;
        confirm.textContent = t('Expired: send again');
      }
    }, 1000);
  });
}
