// The operators' console: a top bar with the operator, the language and Sign out; the sections their
// role may use; and the shared pieces of its pages. Tables turn into cards when their container is
// narrow (a phone, or the detail column beside a list), so no column is ever cut off.

import { api } from './api.js';
import { $, h, replace } from './dom.js';
import { shortId } from './format.js';
import { icon } from './icons.js';
import { language, setLanguage, t } from './i18n.js';
import { lookUp, nameOf, resetPeople } from './people.js';
import { badge, formModal, toast } from './ui.js';
import { renderCases } from './console-cases.js';
import { renderPeople, renderFreezes } from './console-people.js';
import { renderApprovals, REVERSALS, DISCLOSURES } from './console-legal.js';
import { renderPolicy, renderWebhooks, renderMerchantKeys, renderAudit } from './console-platform.js';

/** What each role may do on the page; the server checks every action again. */
const ABILITIES = {
  support: ['assign', 'request_evidence'],
  reviewer: ['assign', 'request_evidence', 'freeze', 'lift', 'refund', 'resolve', 'policy'],
  legal: ['reversal', 'disclosure'],
  auditor: [],
  admin: ['policy', 'webhooks', 'merchant_keys', 'freeze', 'lift'],
};

/** The console's state: the signed-in operator and the section shown. */
export const consoleState = { operator: null, view: 'cases', caseId: null, userId: null };

export function can(action) {
  return (ABILITIES[consoleState.operator?.role] || []).includes(action);
}

export function startConsole(operator, session, view = 'cases') {
  consoleState.operator = operator;
  resetPeople({ id: operator.id, name: operator.name });
  const legalEyes = operator.role === 'legal' || operator.role === 'auditor';
  const sections = [
    ['cases', 'cases', t('Cases')],
    ['people', 'search', t('People')],
    ['freezes', 'snow', t('Freezes')],
    ...(legalEyes ? [['reversals', 'scale', t('Reversals')], ['disclosures', 'idCard', t('Disclosures')]] : []),
    ['policy', 'policy', t('Risk policy')],
    ...(operator.role === 'auditor' ? [['webhooks', 'webhook', t('Webhooks')], ['keys', 'key', t('Merchant keys')]] : []),
    ...(legalEyes ? [['audit', 'log', t('Audit log')]] : []),
  ];
  const main = h('main', { class: 'console-main', id: 'console-main' });
  const nav = h('nav', { class: 'console-nav', 'aria-label': t('Console sections') }, sections.map(([id, iconName, label]) =>
    h('button', { type: 'button', id: `nav-${id}`, dataset: { testid: `nav-${id}` }, onclick: () => show(id) }, icon(iconName, { size: 18 }), h('span', { text: label }))));
  replace($('#root'), h('div', { class: 'console' },
    h('header', { class: 'console-top' },
      h('span', { class: 'console-brand' }, icon('packet', { size: 22 }), h('span', { text: t('hongbao console') })),
      h('span', { class: 'grow' }),
      h('span', { class: 'console-operator' }, h('b', { text: operator.name }), badge(operator.role)),
      h('button', { class: 'language-button on-dark', type: 'button', text: language() === 'zh' ? 'EN' : '中文', 'aria-label': t('Language'), onclick: () => setLanguage(language() === 'zh' ? 'en' : 'zh') }),
      h('button', { class: 'btn small sign-out', type: 'button', dataset: { testid: 'sign-out' }, onclick: session.signOut }, icon('signOut', { size: 16 }), h('span', { text: t('Sign out') }))),
    nav, main));
  function show(id) {
    consoleState.view = id;
    nav.querySelectorAll('button').forEach(button => button.toggleAttribute('aria-current', button.id === `nav-${id}`));
    replace(main);
    const pages = {
      cases: renderCases, people: renderPeople, freezes: renderFreezes,
      reversals: element => renderApprovals(element, REVERSALS), disclosures: element => renderApprovals(element, DISCLOSURES),
      policy: renderPolicy, webhooks: renderWebhooks, keys: renderMerchantKeys, audit: renderAudit,
    };
    (pages[id] || renderCases)(main);
  }
  consoleState.show = show;
  show(sections.some(([id]) => id === view) ? view : 'cases');
  return consoleState;
}

/**
 * A table whose rows become cards in a narrow container: `headers` are the column names, each row an
 * array of cells (nodes, text, or null), or `{ cells, className, onclick }`.
 */
export function table(headers, rows, { testid } = {}) {
  return h('div', { class: 'table-wrap' }, h('table', { class: 'table', dataset: testid ? { testid } : null },
    h('thead', {}, h('tr', {}, headers.map(header => h('th', { scope: 'col', text: header })))),
    h('tbody', {}, rows.map(row => {
      const { cells, className, onclick, testid: rowTestid } = Array.isArray(row) ? { cells: row } : row;
      const tr = h('tr', { class: className, tabIndex: onclick ? 0 : null, onclick, dataset: rowTestid ? { testid: rowTestid } : null,
        onkeydown: onclick ? event => { if (event.key === 'Enter') onclick(event); } : null },
      cells.map((cell, index) => h('td', { dataset: { label: headers[index] || '' } }, cell ?? '—')));
      return tr;
    }))));
}

/** A user shown by name (looked up) with their id on hover; clicking opens their page. */
export function userLink(id) {
  if (!id) return '—';
  const button = h('button', { class: 'link-button', type: 'button', title: id, text: nameOf(id), onclick: () => {
    consoleState.userId = id;
    consoleState.show('people');
  } });
  lookUp(id).then(name => (button.textContent = name));
  return button;
}

/** An id shortened, with the whole id on hover. */
export function idText(id) {
  return h('span', { class: 'mono', title: id, text: shortId(id) });
}

export const reasonField = () => ({ name: 'reason', label: t('Reason'), type: 'textarea', required: true, max: 500, hint: t('Recorded in the audit log.') });

/** An operator action from a form with its reason, then `after(answer)`. */
export function operatorAction(title, fields, path, build, after, intro) {
  formModal(title, [...fields, reasonField()], t('Confirm'), async (values, key) => {
    const answer = await api('POST', path, build ? build(values) : values, { key });
    toast(t('{action}: done', { action: title }), 'ok');
    after?.(answer);
  }, intro);
}
