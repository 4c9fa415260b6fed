// Getting money back by asking (协商退还): the requests the user made and those made of them, with
// the other person by name, and the form that asks for a claimed share or a received transfer back.

import { api, encode, items } from './api.js';
import { h, replace } from './dom.js';
import { t } from './i18n.js';
import { learn, nameOf } from './people.js';
import { ask, badge, emptyState, formModal, keyValues, loading, money, showError, toast, when } from './ui.js';

/** The requests of one side ('received': asked of the user; 'sent': made by them) in `container`. */
export async function renderReturns(app, container, role = 'received') {
  const tabs = h('div', { class: 'segmented', role: 'group', 'aria-label': t('Which requests') }, [['received', t('Asked of me')], ['sent', t('Made by me')]].map(([value, label]) =>
    h('button', { type: 'button', 'aria-pressed': String(value === role), text: label, onclick: () => renderReturns(app, container, value) })));
  const list = h('div', {}, loading());
  replace(container, h('section', { class: 'card' }, h('div', { class: 'card-head' }, h('h3', { text: t('Money back') }), tabs,
    h('button', { class: 'btn small', type: 'button', text: t('Ask for money back'), onclick: () => askBack(app, '') })), list));
  try {
    const requests = learn(items(await api('GET', `/v1/return-requests?role=${role}&limit=100`)));
    replace(list, requests.length ? requests.map(request => {
      const other = role === 'received' ? request.requester_id : request.recipient_id;
      return h('div', { class: 'request' },
        h('div', { class: 'card-head' }, h('b', { class: 'grow', text: money(request.amount, app.currency) }), badge(request.status)),
        h('p', { text: request.reason }),
        keyValues([[role === 'received' ? t('Asked by') : t('Asked of'), nameOf(other)], [t('Asked'), when(request.created_at)],
          request.status === 'pending' ? [t('Answer by'), when(request.respond_by)] : null, [t('Declined because'), request.decline_reason]]),
        role === 'received' && request.status === 'pending' ? h('div', { class: 'actions' },
          h('button', { class: 'btn', type: 'button', text: t('Decline'), onclick: () => formModal(t('Decline the request'), [{ name: 'reason', label: t('Reason'), type: 'textarea', max: 500 }], t('Decline'),
            async (values, key) => {
              await api('POST', `/v1/return-requests/${encode(request.id)}/decline`, values, { key });
              toast(t('Declined'), 'ok');
              renderReturns(app, container, role);
            }) }),
          h('button', { class: 'btn primary', type: 'button', text: t('Return {amount}', { amount: money(request.amount, app.currency) }), onclick: async () => {
            if (!(await ask(t('Return {amount} to {name}?', { amount: money(request.amount, app.currency), name: nameOf(request.requester_id) }), t('Return')))) return;
            try {
              await api('POST', `/v1/return-requests/${encode(request.id)}/accept`);
              toast(t('Returned'), 'ok');
              app.refreshWallet();
              renderReturns(app, container, role);
            } catch (error) {
              showError(error);
            }
          } })) : null);
    }) : emptyState(role === 'received' ? t('Nobody has asked you for money back.') : t('You have not asked anyone for money back.')));
  } catch (error) {
    showError(error);
    replace(list);
  }
}

/** The form that asks the recipient of a claim or a transfer to return it. */
export function askBack(app, txnNo) {
  formModal(t('Ask for money back'), [
    { name: 'txn_no', label: t('Transaction number'), required: true, value: txnNo || '', readonly: !!txnNo },
    { name: 'amount', label: t('Amount'), type: 'money', hint: t('Leave empty to ask for all of it.') },
    { name: 'reason', label: t('Reason'), type: 'textarea', required: true, max: 500 },
    { name: 'respond_within_hours', label: t('Answer within (hours)'), type: 'number', min: 1, max: 168, hint: t('72 hours if empty, at most 7 days.') },
  ], t('Send the request'), async (values, key) => {
    const body = { txn_no: values.txn_no, reason: values.reason };
    if (values.amount) body.amount = values.amount;
    if (values.respond_within_hours) body.respond_within_seconds = values.respond_within_hours * 3600;
    const request = await api('POST', '/v1/return-requests', body, { key });
    toast(t('Asked for {amount} back', { amount: money(request.amount, app.currency) }), 'ok');
  }, t('The other person is asked to return the money; they may accept or decline.'));
}
