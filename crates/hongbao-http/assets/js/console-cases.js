// Cases in the console: the list with filters, and a case with its parties by name, its evidence,
// the freezes placed for it, and the actions the operator's role allows.

import { api, encode, items } from './api.js';
import { h, replace } from './dom.js';
import { icon } from './icons.js';
import { t } from './i18n.js';
import { nameOf } from './people.js';
import { badge, emptyState, field, keyValues, loading, money, showError, toast, when } from './ui.js';
import { consoleState, can, idText, operatorAction, table, userLink } from './console.js';
import { freezeTable } from './console-people.js';
import { COMPLAINT_KINDS, evidenceText, kindText } from './complaints.js';

const filters = { status: '', kind: '', overdue: false };

export function renderCases(main) {
  const form = h('form', { class: 'filters' },
    field({ name: 'status', label: t('Status'), type: 'select', value: filters.status,
      options: [['', t('Any')], ['submitted', t('Submitted')], ['needs_evidence', t('Needs evidence')], ['under_review', t('Under review')], ['resolved', t('Resolved')]] }),
    field({ name: 'kind', label: t('Kind'), type: 'select', value: filters.kind, options: [['', t('Any')], ...COMPLAINT_KINDS.map(([value, label]) => [value, t(label)])] }),
    h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'overdue', checked: filters.overdue }), t('Overdue only')),
    h('button', { class: 'btn primary', type: 'submit', text: t('Apply') }));
  form.addEventListener('submit', event => {
    event.preventDefault();
    Object.assign(filters, { status: form.elements.status.value, kind: form.elements.kind.value, overdue: form.elements.overdue.checked });
    renderCases(main);
  });
  const list = h('div', {}, loading());
  const more = h('div', { class: 'more' });
  const detail = h('div', { class: 'detail-pane', id: 'case-detail' }, h('div', { class: 'card muted', text: t('Choose a case.') }));
  replace(main, h('h2', { text: t('Cases') }), form, h('div', { class: 'split' }, h('div', { class: 'split-list' }, list, more), detail));
  const rows = [];
  const page = async cursor => {
    const query = new URLSearchParams({ limit: '50' });
    if (filters.status) query.set('status', filters.status);
    if (filters.kind) query.set('kind', filters.kind);
    if (filters.overdue) query.set('overdue', 'true');
    if (cursor) query.set('cursor', cursor);
    try {
      const answer = await api('GET', `/v1/ops/cases?${query}`);
      for (const found of items(answer)) {
        rows.push({ cells: [idText(found.id), kindText(found.kind), [badge(found.status), found.overdue ? badge('overdue') : null], userLink(found.complainant_id), when(found.due_at)],
          className: `clickable${found.overdue ? ' overdue' : ''}${found.id === consoleState.caseId ? ' selected' : ''}`, onclick: () => showCase(found.id) });
      }
      replace(list, rows.length ? table([t('Case'), t('Kind'), t('Status'), t('Complainant'), t('Due')], rows) : emptyState(t('No cases match.')));
      replace(more, answer.next_cursor ? h('button', { class: 'btn small', type: 'button', text: t('Show more'), onclick: () => page(answer.next_cursor) }) : null);
    } catch (error) {
      showError(error);
      replace(list);
    }
  };
  page();
  if (consoleState.caseId) showCase(consoleState.caseId);
}

/** Types a browser may show in a tab of this origin; anything else (HTML, SVG, …) is only downloaded. */
const SHOWN_TYPES = /^(image\/(png|jpeg|gif|webp)|video\/|audio\/|application\/pdf|text\/plain)/;

/** Opens a file of evidence: shown in a new tab when its type is passive, downloaded as bytes otherwise. */
async function openEvidence(id) {
  try {
    const response = await api('GET', `/v1/evidence/${encode(id)}/content`, undefined, { raw: true });
    const blob = await response.blob();
    const type = (response.headers.get('Content-Type') || '').split(';')[0];
    const shown = SHOWN_TYPES.test(type);
    const url = URL.createObjectURL(shown ? blob : new Blob([blob], { type: 'application/octet-stream' }));
    const link = h('a', { href: url, target: shown ? '_blank' : null, rel: 'noopener', download: shown ? null : id });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  } catch (error) {
    showError(error);
  }
}

async function showCase(id) {
  consoleState.caseId = id;
  const slot = document.getElementById('case-detail');
  if (!slot) return;
  let found;
  try {
    found = await api('GET', `/v1/ops/cases/${encode(id)}`);
  } catch (error) {
    showError(error);
    return;
  }
  const refresh = () => showCase(found.id);
  const open = found.status !== 'resolved';
  const freezes = h('div', {}, loading());
  const caseFreezes = [];
  const respondents = found.respondent_ids || [];
  const actions = h('div', { class: 'actions start' },
    open && can('assign') && found.assignee_id !== consoleState.operator.id
      ? h('button', { class: 'btn', type: 'button', text: t('Take the case'), onclick: () => operatorAction(t('Take the case'), [], `/v1/ops/cases/${encode(found.id)}/assign`, null, refresh) }) : null,
    open && can('request_evidence')
      ? h('button', { class: 'btn', type: 'button', text: t('Ask for evidence'), onclick: () => operatorAction(t('Ask for evidence'), [], `/v1/ops/cases/${encode(found.id)}/request-evidence`, null, refresh,
        t('The complainant is told what is missing; say what you need in the reason.')) }) : null,
    open && can('freeze')
      ? h('button', { class: 'btn', type: 'button', onclick: () => operatorAction(t('Freeze a respondent'), [
        respondents.length ? { name: 'user_id', label: t('Who'), type: 'select', required: true, options: respondents.map(user => [user, nameOf(user)]) } : { name: 'user_id', label: t('User id'), required: true },
        { name: 'amount', label: t('Amount to hold'), type: 'money', hint: t('Leave empty to stop all outgoing money.') },
        { name: 'until', label: t('Until'), type: 'datetime', hint: t('Leave empty to freeze until lifted.') }],
      '/v1/ops/freezes', values => ({ ...values, case_id: found.id }), refresh) }, icon('snow', { size: 16 }), t('Freeze a respondent')) : null,
    open && can('refund')
      ? h('button', { class: 'btn', type: 'button', onclick: () => {
        const active = caseFreezes.filter(freeze => freeze.status === 'active');
        operatorAction(t('Refund from a freeze'), [
          active.length ? { name: 'freeze_id', label: t('From the freeze'), type: 'select', required: true,
            options: active.map(freeze => [freeze.id, `${nameOf(freeze.user_id)} · ${freeze.kind === 'full' ? t('Everything') : money(freeze.amount - (freeze.refunded_amount || 0))}`]) }
            : { name: 'freeze_id', label: t('Freeze id'), required: true },
          { name: 'amount', label: t('Amount'), type: 'money', required: true }],
        `/v1/ops/cases/${encode(found.id)}/refunds`, null, answer => {
          if (answer?.txn_no) toast(t('Refunded {amount}', { amount: money(answer.amount) }), 'ok');
          refresh();
        }, t('Moves frozen money to the complainant; it never overdraws.'));
      } }, icon('undo', { size: 16 }), t('Refund from a freeze')) : null,
    open && can('resolve')
      ? h('button', { class: 'btn primary', type: 'button', text: t('Resolve'), onclick: () => operatorAction(t('Resolve the case'), [{ name: 'outcome', label: t('Outcome'), type: 'select', required: true,
        options: [['refunded', t('Refunded')], ['partially_refunded', t('Partly refunded')], ['rejected', t('Rejected')], ['referred', t('Referred')]] }],
      `/v1/ops/cases/${encode(found.id)}/resolve`, null, () => consoleState.show('cases')) }) : null,
    consoleState.operator.role === 'auditor' ? h('span', { class: 'small muted', text: t('Read-only role') }) : null);
  replace(slot, h('div', { class: 'card' },
    h('div', { class: 'card-head' }, h('h3', { class: 'grow' }, kindText(found.kind), ' ', idText(found.id)), badge(found.status), found.outcome ? badge(found.outcome) : null, found.overdue ? badge('overdue') : null),
    found.missing_evidence?.length ? h('div', { class: 'notice' }, t('Missing evidence: {list}', { list: found.missing_evidence.map(evidenceText).join(', ') })) : null,
    keyValues([[t('Complainant'), userLink(found.complainant_id)], [t('Respondents'), respondents.length ? h('span', { class: 'inline-list' }, respondents.map(userLink)) : '—'],
      [t('Transactions'), (found.txn_nos || []).length ? h('span', { class: 'inline-list' }, found.txn_nos.map(idText)) : '—'],
      [t('Assignee'), found.assignee_id ? idText(found.assignee_id) : '—'], [t('Filed'), when(found.created_at)], [t('Due'), when(found.due_at)],
      [t('Resolved'), found.resolved_at ? when(found.resolved_at) : null], [t('Refunded'), money(found.refunded_amount || 0)],
      [t('Description'), h('div', { class: 'pre', text: found.description })],
      [t('Evidence'), (found.evidence_ids || []).length ? h('span', { class: 'inline-list' }, found.evidence_ids.map((id, index) =>
        h('button', { class: 'btn small', type: 'button', onclick: () => openEvidence(id) }, icon('attach', { size: 14 }), t('File {number}', { number: index + 1 })))) : '—']]),
    found.note ? h('div', { class: 'notice' }, h('b', { text: t('Latest note to the complainant: ') }), found.note) : null,
    h('h3', { text: t('Freezes for this case') }), freezes,
    h('h3', { text: t('Actions') }), actions));
  const all = await Promise.all([...new Set(respondents)].map(user => api('GET', `/v1/ops/freezes?user_id=${encode(user)}&limit=200`).then(items).catch(() => [])));
  caseFreezes.push(...all.flat().filter(freeze => freeze.case_id === found.id));
  replace(freezes, caseFreezes.length ? freezeTable(caseFreezes, refresh) : h('p', { class: 'small muted', text: t('None.') }));
}
