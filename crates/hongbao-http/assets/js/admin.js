// The admin's page (the bootstrap token): users and their top-ups, found by name; operators; and
// the platform's settings (the risk policy, webhooks, merchant API keys).

import { api, encode, items } from './api.js';
import { $, h, replace } from './dom.js';
import { icon } from './icons.js';
import { language, setLanguage, t } from './i18n.js';
import { resetPeople } from './people.js';
import { avatar, badge, bindSubmit, emptyState, field, makeForm, money, readFields, showError, toast, when } from './ui.js';
import { consoleState, table } from './console.js';
import { renderMerchantKeys, renderPolicy, renderWebhooks, revealSecret } from './console-platform.js';

/** A field that finds a user by name or id and keeps the one chosen. */
function userChooser() {
  let chosen = null;
  const input = h('input', { type: 'search', placeholder: t('Name or user id'), 'aria-label': t('Find a user by name or id'), dataset: { testid: 'top-up-user' } });
  const results = h('div', { class: 'list compact' });
  const find = async () => {
    const text = input.value.trim();
    if (!text) return;
    try {
      const found = items(await api('GET', `/v1/ops/users?q=${encode(text)}&limit=10`));
      replace(results, found.length ? found.map(user => h('label', { class: 'picker-row' },
        h('input', { type: 'radio', name: 'top-up-user', value: user.id, onchange: () => (chosen = user.id) }), avatar(user.name, user.id, 'small'),
        h('span', { class: 'grow' }, user.name, ' ', h('span', { class: 'mono small muted', text: user.id })))) : emptyState(t('Nobody by that name or id.')));
      if (found.length === 1) {
        chosen = found[0].id;
        results.querySelector('input').checked = true;
      }
    } catch (error) {
      showError(error);
    }
  };
  input.addEventListener('keydown', event => {
    if (event.key === 'Enter') {
      event.preventDefault();
      find();
    }
  });
  const element = h('div', { class: 'field' }, h('span', { class: 'field-label', text: t('User') }),
    h('div', { class: 'search-form' }, h('div', { class: 'search-box grow' }, icon('search', { size: 16 }), input), h('button', { class: 'btn', type: 'button', text: t('Find'), onclick: find })), results);
  return { element, chosen: () => chosen, reset: () => { chosen = null; input.value = ''; replace(results); } };
}

export function startAdmin(operators, session) {
  consoleState.operator = { id: 'admin', name: 'admin', role: 'admin' };
  resetPeople({ id: 'admin', name: 'admin' });
  const operatorList = h('div', {});
  const drawOperators = list => replace(operatorList, list.length ? table([t('Name'), t('Role'), t('Id'), t('Since')], list.map(operator => [
    operator.name, badge(operator.role), h('span', { class: 'mono', text: operator.id }), when(operator.created_at)])) : emptyState(t('No operators yet.')));
  const reloadOperators = async () => {
    try {
      drawOperators(items(await api('GET', '/v1/ops/operators?limit=200')));
    } catch (error) {
      showError(error);
    }
  };

  const createUser = makeForm([{ name: 'name', label: t('Name'), required: true, max: 64, testid: 'new-user-name' }], t('Create the user'), async (values, key, form) => {
    const user = await api('POST', '/v1/users', values, { key });
    form.reset();
    revealSecret(t('User created'), [h('b', { text: user.name }), ' ', h('span', { class: 'mono', text: user.id })], user.token, t('This token is shown once. Copy it now and hand it over safely.'));
  });
  const chooser = userChooser();
  const topUpFields = [{ name: 'amount', label: t('Amount'), type: 'money', required: true, placeholder: '0.00' }, { name: 'reference', label: t('External reference'), required: true, placeholder: 'bank-ref-1' }];
  const topUp = h('form', { class: 'form', novalidate: true }, chooser.element, topUpFields.map(field), h('div', { class: 'actions' }, h('button', { class: 'btn primary', type: 'submit', text: t('Top up') })));
  bindSubmit(topUp, async key => {
    const userId = chooser.chosen();
    if (!userId) throw new Error(t('Find and choose a user first'));
    const values = readFields(topUp, topUpFields);
    const entry = await api('POST', '/v1/top-ups', { user_id: userId, ...values }, { key });
    topUp.reset();
    chooser.reset();
    toast(t('Topped up {amount}', { amount: money(entry.amount) }), 'ok');
  });
  const roles = [['support', t('Support')], ['reviewer', t('Reviewer')], ['legal', t('Legal')], ['auditor', t('Auditor')]];
  const createOperator = makeForm([{ name: 'name', label: t('Name'), required: true, max: 64 }, { name: 'role', label: t('Role'), type: 'select', required: true, options: roles }],
    t('Create the operator'), async (values, key, form) => {
      const operator = await api('POST', '/v1/ops/operators', values, { key });
      form.reset();
      revealSecret(t('Operator created'), [h('b', { text: operator.name }), ' ', badge(operator.role)], operator.token, t('This token is shown once. Copy it now and hand it over safely.'));
      reloadOperators();
    });
  const policy = h('section', { class: 'card' });
  const webhooks = h('section', { class: 'card' });
  const keys = h('section', { class: 'card' });
  replace($('#root'), h('div', { class: 'admin' },
    h('header', { class: 'console-top' }, h('span', { class: 'console-brand' }, icon('packet', { size: 22 }), h('span', { text: t('hongbao admin') })), h('span', { class: 'grow' }),
      h('button', { class: 'language-button on-dark', type: 'button', text: language() === 'zh' ? 'EN' : '中文', 'aria-label': t('Language'), onclick: () => setLanguage(language() === 'zh' ? 'en' : 'zh') }),
      h('button', { class: 'btn small sign-out', type: 'button', dataset: { testid: 'sign-out' }, onclick: session.signOut }, icon('signOut', { size: 16 }), h('span', { text: t('Sign out') }))),
    h('main', { class: 'admin-main' },
      h('div', { class: 'admin-grid' },
        h('section', { class: 'card' }, h('h2', { text: t('Create a user') }), createUser),
        h('section', { class: 'card' }, h('h2', { text: t('Top up a wallet') }), topUp),
        h('section', { class: 'card' }, h('h2', { text: t('Create an operator') }), createOperator)),
      h('section', { class: 'card' }, h('h2', { text: t('Operators') }), operatorList),
      policy, webhooks, keys)));
  drawOperators(operators);
  renderPolicy(policy);
  renderWebhooks(webhooks);
  renderMerchantKeys(keys);
}
