// Transfers (转账) in a chat: the bubble with Accept and Return for the recipient and Cancel for the
// sender of a delayed one, the form that sends one, and the list of transfers waiting for an answer.

import { api, encode, items } from './api.js';
import { h } from './dom.js';
import { formatMoney, formatTime } from './format.js';
import { icon } from './icons.js';
import { language, t } from './i18n.js';
import { isMe, learn, nameOf, who } from './people.js';
import { pay } from './payments.js';
import { ask, avatar, closeModal, emptyState, makeForm, money, openModal, showError, toast } from './ui.js';

/** What a transfer's bubble says, for the person reading it. */
export function transferState(transfer) {
  const sent = isMe(transfer.sender_id);
  switch (transfer.status) {
    case 'pending':
      return sent ? t('Waiting for {name} to accept', { name: nameOf(transfer.recipient_id) }) : t('Waiting for you to accept');
    case 'accepted':
      return t('Accepted · arrives {time}', { time: formatTime(transfer.arrives_at, language()) });
    case 'settled':
      return sent ? t('{name} received it', { name: nameOf(transfer.recipient_id) }) : t('Received');
    case 'returned':
      return t('Returned');
    case 'cancelled':
      return t('Cancelled');
    case 'expired':
      return t('Not accepted in time · refunded');
    default:
      return transfer.status;
  }
}

/** Carries out a step of a transfer (accept, return, cancel) and tells the page. */
async function step(app, transfer, verb) {
  try {
    const fresh = learn(await api('POST', `/v1/transfers/${encode(transfer.id)}/${verb}`));
    const done = { accept: t('Accepted'), return: t('Returned to {name}', { name: nameOf(transfer.sender_id) }), cancel: t('Cancelled: the money is back in your wallet.') };
    toast(done[verb], 'ok');
    app.changed({ type: 'local.transfer', transfer: fresh });
    return fresh;
  } catch (error) {
    showError(error);
    return null;
  }
}

/** The buttons a transfer offers the person reading it. */
export function transferActions(app, transfer) {
  const sent = isMe(transfer.sender_id);
  const live = transfer.status === 'pending' || transfer.status === 'accepted';
  const buttons = [];
  if (!sent && transfer.status === 'pending') {
    buttons.push(h('button', { class: 'btn small primary', type: 'button', text: t('Accept'), dataset: { testid: 'accept-transfer' }, onclick: event => {
      event.stopPropagation();
      step(app, transfer, 'accept');
    } }));
  }
  if (!sent && live) {
    buttons.push(h('button', { class: 'btn small', type: 'button', text: t('Return'), onclick: async event => {
      event.stopPropagation();
      if (await ask(t('Return {amount} to {name}?', { amount: money(transfer.amount, app.currency), name: nameOf(transfer.sender_id) }), t('Return'))) step(app, transfer, 'return');
    } }));
  }
  if (sent && live && transfer.arrival !== 'instant') {
    buttons.push(h('button', { class: 'btn small', type: 'button', text: t('Cancel'), onclick: async event => {
      event.stopPropagation();
      if (await ask(t('Cancel this transfer? The money comes back at once.'), t('Cancel the transfer'), { danger: true })) step(app, transfer, 'cancel');
    } }));
  }
  return buttons;
}

/** A transfer as a bubble in a conversation. */
export function transferBubble(app, transfer) {
  const finished = !['pending', 'accepted'].includes(transfer.status);
  const actions = transferActions(app, transfer);
  return h('div', { class: `bubble transfer-bubble${finished ? ' done' : ''}`, dataset: { testid: 'transfer-bubble', transfer: transfer.id, status: transfer.status } },
    h('div', { class: 'transfer-top' }, h('span', { class: 'transfer-mark' }, icon(transfer.status === 'settled' ? 'check' : 'transfer', { size: 26 })),
      h('span', { class: 'transfer-text' }, h('span', { class: 'transfer-amount', text: money(transfer.amount, app.currency), dataset: { testid: 'transfer-amount' } }),
        h('span', { class: 'transfer-state', text: transferState(transfer), dataset: { testid: 'transfer-state' } }),
        transfer.memo ? h('span', { class: 'transfer-memo', text: transfer.memo }) : null)),
    actions.length ? h('div', { class: 'bubble-actions' }, actions) : null,
    h('div', { class: 'bubble-foot' }, h('span', { text: t('Transfer') }), transfer.arrival !== 'instant' ? h('span', { text: t('Delayed arrival') }) : null));
}

/** The form that sends a transfer to one person. */
export function composeTransfer(app, recipientId) {
  const arrival = [['instant', t('Instant')], ['delay_2h', t('In 2 hours')], ['delay_24h', t('In 24 hours')]];
  const form = makeForm([
    { name: 'amount', label: t('Amount'), type: 'money', required: true, placeholder: '0.00', testid: 'transfer-amount-input' },
    { name: 'memo', label: t('Memo'), max: 100 },
    { name: 'arrival', label: t('Arrival'), type: 'select', options: arrival, hint: t('A delayed transfer can be cancelled until it arrives.') },
  ], t('Transfer'), async (values, key) => {
    const transfer = await pay(app, '/v1/transfers', { recipient_id: recipientId, ...values }, key);
    if (!transfer) return;
    closeModal();
    toast(t('Sent {amount}; waiting for {name} to accept.', { amount: money(transfer.amount, app.currency), name: nameOf(recipientId) }), 'ok');
    app.changed({ type: 'local.transfer', transfer: learn(transfer) });
  }, null, { testid: 'transfer-form' });
  openModal(t('Transfer to {name}', { name: nameOf(recipientId) }), [h('div', { class: 'transfer-to' }, avatar(nameOf(recipientId), recipientId), h('b', { text: nameOf(recipientId) })), form]);
  form.elements.amount.focus();
}

/** A row of a transfer waiting for an answer, for the lists of pending transfers. */
export function pendingRow(app, transfer) {
  const sent = isMe(transfer.sender_id);
  const other = sent ? transfer.recipient_id : transfer.sender_id;
  const text = sent
    ? t('To {name}: {amount}', { name: nameOf(other), amount: money(transfer.amount, app.currency) })
    : t('{name} sent you {amount}', { name: nameOf(other), amount: money(transfer.amount, app.currency) });
  return h('div', { class: 'list-row pending-row', dataset: { testid: 'pending-transfer', transfer: transfer.id } },
    h('button', { class: 'row-main', type: 'button', onclick: () => app.openPerson(other) }, avatar(nameOf(other), other),
      h('span', { class: 'row-text' }, h('span', { class: 'row-title', text }), h('span', { class: 'row-detail', text: transfer.memo || transferState(transfer) }))),
    h('span', { class: 'row-actions' }, transferActions(app, transfer)));
}

/** The transfers waiting for the user to accept them (`received`) or for others to (`sent`). */
export async function pendingTransfers(role) {
  return learn(items(await api('GET', `/v1/transfers?role=${role}&status=pending&limit=50`)));
}

/** A section listing pending transfers of one role; empty sections say so only when `always`. */
export async function pendingSection(app, role, { always = false } = {}) {
  const list = await pendingTransfers(role).catch(error => {
    showError(error);
    return [];
  });
  if (!list.length && !always) return null;
  const title = role === 'received' ? t('Waiting for you to accept') : t('Sent, not yet accepted');
  return h('section', { class: 'pending-section', dataset: { testid: `pending-${role}` } }, h('h3', { class: 'section-title', text: title }),
    list.length ? list.map(transfer => pendingRow(app, transfer)) : emptyState(role === 'received' ? t('Nothing is waiting for you.') : t('Nothing is waiting.')));
}

/** A transfer in the modal, for a notification or the history. */
export async function showTransfer(app, id) {
  let transfer;
  try {
    transfer = learn(await api('GET', `/v1/transfers/${encode(id)}`));
  } catch (error) {
    showError(error);
    return;
  }
  const sent = isMe(transfer.sender_id);
  openModal(t('Transfer'), [transferBubble(app, transfer),
    h('p', { class: 'small muted', text: sent ? t('To {name}', { name: who(transfer.recipient_id) }) : t('From {name}', { name: who(transfer.sender_id) }) }),
    h('p', { class: 'small muted', text: `${formatTime(transfer.created_at, language())} · ${formatMoney(transfer.amount)}` }),
    h('div', { class: 'actions' }, h('button', { class: 'btn', type: 'button', text: t('Open the chat'), onclick: () => {
      closeModal();
      app.openPerson(sent ? transfer.recipient_id : transfer.sender_id);
    } }))]);
}
