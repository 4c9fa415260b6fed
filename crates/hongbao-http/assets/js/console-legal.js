// Reversals and identity disclosures: a request by one legal officer that takes effect only when a
// second one approves it.

import { api, encode, items } from './api.js';
import { h, replace } from './dom.js';
import { t } from './i18n.js';
import { badge, emptyState, field, loading, money, showError, when } from './ui.js';
import { consoleState, can, idText, operatorAction, table, userLink } from './console.js';

export const REVERSALS = {
  title: () => t('Reversals'), path: '/v1/ops/reversals', noun: 'reversal', newLabel: () => t('New reversal'),
  create: () => [{ name: 'txn_no', label: t('Transaction number'), required: true }, { name: 'amount', label: t('Amount'), type: 'money', hint: t('Leave empty to reverse all of it.') },
    { name: 'reference', label: t('Court order or police reference'), required: true }],
  columns: () => [t('Transaction'), t('Amount'), t('From → to'), t('Reference')],
  cells: reversal => [idText(reversal.txn_no), money(reversal.amount), h('span', { class: 'inline-list' }, userLink(reversal.payer_id), '→', userLink(reversal.recipient_id)), reversal.reference],
};

export const DISCLOSURES = {
  title: () => t('Disclosures'), path: '/v1/ops/disclosures', noun: 'disclosure', newLabel: () => t('New disclosure'),
  create: () => [{ name: 'user_id', label: t('User id'), required: true }, { name: 'requester', label: t('Requesting authority'), required: true }, { name: 'reference', label: t('Reference'), required: true }],
  columns: () => [t('User'), t('Requester'), t('Reference'), t('Identity')],
  cells: disclosure => [userLink(disclosure.user_id), disclosure.requester, disclosure.reference,
    disclosure.identity && ['approved', 'executed'].includes(disclosure.status) ? h('b', { text: disclosure.identity.name }) : '—'],
};

export async function renderApprovals(main, kind) {
  const status = consoleState[kind.noun] ?? 'pending';
  const select = field({ name: 'status', label: t('Status'), type: 'select', value: status,
    options: [['pending', t('Pending')], ['', t('All')], ['executed', t('Executed')], ['approved', t('Approved')], ['rejected', t('Rejected')]] });
  select.querySelector('select').addEventListener('change', event => {
    consoleState[kind.noun] = event.target.value;
    renderApprovals(main, kind);
  });
  const list = h('div', {}, loading());
  const reload = () => renderApprovals(main, kind);
  replace(main, h('div', { class: 'filters' }, h('h2', { class: 'grow', text: kind.title() }), select,
    can(kind.noun) ? h('button', { class: 'btn primary', type: 'button', text: kind.newLabel(), onclick: () => operatorAction(kind.newLabel(), kind.create(), kind.path, null, reload,
      t('It takes effect only when a second legal officer approves it.')) }) : null), list);
  try {
    const found = items(await api('GET', `${kind.path}?limit=100${status ? `&status=${status}` : ''}`));
    replace(list, found.length ? table([t('Id'), ...kind.columns(), t('Reason'), t('Status'), t('Requested'), t('Decision'), t('Actions')], found.map(request => [
      idText(request.id), ...kind.cells(request), request.reason, badge(request.status), [idText(request.requested_by), ' ', when(request.requested_at)],
      request.decided_by ? [idText(request.decided_by), ' ', when(request.decided_at), ': ', request.decision_reason || ''] : '—',
      request.status !== 'pending' ? '—'
        : request.requested_by === consoleState.operator.id ? h('span', { class: 'small muted', text: t('Needs a second legal officer') })
          : can(kind.noun) ? h('span', { class: 'inline-list' },
            h('button', { class: 'btn small primary', type: 'button', text: t('Approve'), onclick: () => operatorAction(t('Approve'), [], `${kind.path}/${encode(request.id)}/approve`, null, reload) }),
            h('button', { class: 'btn small danger', type: 'button', text: t('Reject'), onclick: () => operatorAction(t('Reject'), [], `${kind.path}/${encode(request.id)}/reject`, null, reload) })) : '—',
    ])) : emptyState(t('Nothing here.')));
  } catch (error) {
    showError(error);
    replace(list);
  }
}
