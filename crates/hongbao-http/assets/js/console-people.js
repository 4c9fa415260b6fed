// People in the console: finding a user by name or id, their wallet and freezes, freezing their
// money for a rule or a case and lifting a freeze; and the list of all freezes.

import { api, encode, items } from './api.js';
import { h, replace } from './dom.js';
import { icon } from './icons.js';
import { t } from './i18n.js';
import { remember } from './people.js';
import { avatar, badge, emptyState, keyValues, loading, money, showError, when } from './ui.js';
import { consoleState, can, operatorAction, table, userLink } from './console.js';

/** Freezes as a table (cards when narrow), with Lift for those who may lift them. */
export function freezeTable(freezes, after) {
  return table([t('Who'), t('Kind'), t('Held'), t('Status'), t('Case or rule'), t('Reason'), t('Placed'), t('Until'), t('Lift')], freezes.map(freeze => ({
    testid: 'freeze-row',
    cells: [
      userLink(freeze.user_id), badge(freeze.kind), freeze.kind === 'full' ? t('Everything') : money(freeze.amount), badge(freeze.status),
      freeze.case_id ? h('button', { class: 'link-button', type: 'button', text: t('Case'), onclick: () => { consoleState.caseId = freeze.case_id; consoleState.show('cases'); } })
        : freeze.rule ? h('span', { class: 'badge', text: freeze.rule }) : '—',
      freeze.reason, when(freeze.created_at),
      freeze.status === 'lifted' ? t('Lifted {time}', { time: when(freeze.lifted_at) }) : freeze.until ? when(freeze.until) : t('Until lifted'),
      freeze.status === 'active' && can('lift') ? h('button', { class: 'btn small', type: 'button', text: t('Lift'), dataset: { testid: 'lift' },
        onclick: () => operatorAction(t('Lift the freeze'), [], `/v1/ops/freezes/${encode(freeze.id)}/lift`, null, after) }) : '—',
    ],
  })), { testid: 'freezes' });
}

/** Finding users by name or id; a user's page when one is chosen. */
export function renderPeople(main) {
  const input = h('input', { type: 'search', name: 'q', placeholder: t('Name, user id, txn_… or cmp_…'), 'aria-label': t('Find a user by name or id, a transaction or a case'), dataset: { testid: 'user-search' } });
  const results = h('div', {});
  const page = h('div', {});
  const form = h('form', { class: 'search-form' }, h('div', { class: 'search-box grow' }, icon('search', { size: 16 }), input), h('button', { class: 'btn primary', type: 'submit', text: t('Find') }));
  form.addEventListener('submit', async event => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    // A case or a transaction number goes straight to it.
    if (text.startsWith('cmp_')) {
      consoleState.caseId = text;
      consoleState.show('cases');
      return;
    }
    if (text.startsWith('txn_')) {
      showTransaction(results, text);
      return;
    }
    replace(results, loading());
    try {
      const found = items(await api('GET', `/v1/ops/users?q=${encode(text)}&limit=50`));
      found.forEach(user => remember(user.id, user.name));
      replace(results, found.length ? h('div', { class: 'list' }, found.map(user => h('button', { class: 'list-row', type: 'button', dataset: { testid: `user-${user.name}` },
        onclick: () => showUser(page, user.id) }, avatar(user.name, user.id), h('span', { class: 'row-text' }, h('span', { class: 'row-title', text: user.name }),
        h('span', { class: 'row-detail mono', text: user.id }))))) : emptyState(t('Nobody by that name or id.')));
    } catch (error) {
      showError(error);
      replace(results);
    }
  });
  replace(main, h('h2', { text: t('People') }), form, results, page);
  input.focus();
  if (consoleState.userId) showUser(page, consoleState.userId);
}

/** A transaction as the journal holds it: its parties by name and its postings. */
async function showTransaction(slot, txnNo) {
  replace(slot, loading());
  try {
    const entry = await api('GET', `/v1/transactions/${encode(txnNo)}`);
    const wallets = (entry.postings || []).map(posting => posting.account).filter(account => account.startsWith('wallet:')).map(account => account.slice('wallet:'.length));
    replace(slot, h('section', { class: 'card' }, h('div', { class: 'card-head' }, h('h3', { class: 'grow', text: t('Transaction') }), h('span', { class: 'mono', text: entry.txn_no })),
      keyValues([[t('Kind'), entry.kind.replace(/_/g, ' ')], [t('Amount'), money(entry.amount)], [t('Time'), when(entry.created_at)], [t('Memo'), entry.memo], [t('Reference'), entry.reference],
        [t('People'), wallets.length ? h('span', { class: 'inline-list' }, wallets.map(userLink)) : '—']]),
      table([t('Account'), t('Amount')], (entry.postings || []).map(posting => [h('span', { class: 'mono', text: posting.account }), money(posting.amount)]))));
  } catch (error) {
    showError(error);
    replace(slot);
  }
}

/** A user's page: wallet, freezes, and the freeze action. */
async function showUser(slot, userId) {
  consoleState.userId = userId;
  replace(slot, loading());
  try {
    const [person, wallet, freezes] = await Promise.all([
      api('GET', `/v1/users/${encode(userId)}`), api('GET', `/v1/ops/users/${encode(userId)}/wallet`), api('GET', `/v1/ops/freezes?user_id=${encode(userId)}&limit=200`),
    ]);
    remember(person.id, person.name);
    const refresh = () => showUser(slot, userId);
    replace(slot, h('section', { class: 'card', dataset: { testid: 'user-page' } },
      h('div', { class: 'card-head' }, avatar(person.name, person.id), h('h3', { class: 'grow', text: person.name }), wallet.frozen > 0 ? badge('active', t('Frozen')) : null),
      keyValues([[t('User id'), h('span', { class: 'mono', text: person.id })], [t('Balance'), money(wallet.balance, wallet.currency)],
        [t('Frozen'), money(wallet.frozen, wallet.currency)], [t('Available'), money(wallet.available, wallet.currency)]]),
      can('freeze') ? h('div', { class: 'actions start' }, h('button', { class: 'btn primary', type: 'button', dataset: { testid: 'freeze-user' }, onclick: () => freezeUser(person, refresh) },
        icon('snow', { size: 16 }), t('Freeze'))) : null,
      h('h3', { text: t('Freezes') }),
      items(freezes).length ? freezeTable(items(freezes), refresh) : h('p', { class: 'small muted', text: t('None.') })));
  } catch (error) {
    showError(error);
    replace(slot);
  }
}

/** Freezing a user's money for a risk rule or a case: all outgoing money, or an amount. */
function freezeUser(person, after) {
  operatorAction(t('Freeze {name}', { name: person.name }), [
    { name: 'amount', label: t('Amount to hold'), type: 'money', hint: t('Leave empty to stop all outgoing money.') },
    { name: 'rule', label: t('Rule'), value: 'manual_review', hint: t('The risk rule the freeze is for, or leave it and give a case id.') },
    { name: 'case_id', label: t('Case id'), placeholder: 'cmp_…' },
    { name: 'until', label: t('Until'), type: 'datetime', hint: t('Leave empty to freeze until lifted.') },
  ], '/v1/ops/freezes', values => {
    const body = { user_id: person.id, reason: values.reason };
    if (values.amount) body.amount = values.amount;
    if (values.until) body.until = values.until;
    if (values.case_id) body.case_id = values.case_id;
    else body.rule = values.rule || 'manual_review';
    return body;
  }, after, t('A freeze stops money leaving the wallet; money still arrives.'));
}

/** Every freeze, newest first, or one user's. */
export function renderFreezes(main) {
  const list = h('div', {}, loading());
  replace(main, h('h2', { text: t('Freezes') }), list);
  const load = async () => {
    try {
      const freezes = items(await api('GET', '/v1/ops/freezes?limit=200'));
      replace(list, freezes.length ? freezeTable(freezes, load) : emptyState(t('No freezes.')));
    } catch (error) {
      showError(error);
      replace(list);
    }
  };
  load();
}
