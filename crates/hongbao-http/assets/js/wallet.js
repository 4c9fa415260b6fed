// The wallet (零钱): the balance with what is frozen, transfers waiting for an answer, withdrawing,
// getting money back (return requests, complaints), and the history in plain words.

import { api, encode, items } from './api.js';
import { h, replace } from './dom.js';
import { formatSigned, formatTime } from './format.js';
import { icon } from './icons.js';
import { language, t } from './i18n.js';
import { nameOf, remember } from './people.js';
import { openPacket } from './packets.js';
import { pendingSection, showTransfer } from './transfers.js';
import { emptyState, formModal, keyValues, loading, money, openModal, showError, toast } from './ui.js';
import { askBack, renderReturns } from './returns.js';
import { renderComplaints } from './complaints.js';

/** What a kind of transaction is, in words. */
const KINDS = {
  top_up: ['down', 'Money added'], withdrawal: ['up', 'Withdrawal'], packet_send: ['packet', 'Red packet sent'], packet_claim: ['packet', 'Red packet opened'],
  packet_refund: ['undo', 'Red packet refund'], transfer_send: ['transfer', 'Transfer sent'], transfer_settle: ['transfer', 'Transfer received'],
  transfer_refund: ['undo', 'Transfer refund'], return: ['undo', 'Money returned'], case_refund: ['shield', 'Refund through a complaint'], reversal: ['scale', 'Reversal'],
};

export function renderWallet(app, pane) {
  const card = h('section', { class: 'wallet-card', dataset: { testid: 'wallet-card' } });
  const drawCard = () => {
    const wallet = app.wallet;
    replace(card, !wallet ? t('Loading…') : [
      h('div', { class: 'wallet-label', text: t('Balance') }),
      h('div', { class: 'wallet-balance', text: money(wallet.balance, wallet.currency) }),
      h('div', { class: 'wallet-line' }, t('Available {amount}', { amount: money(wallet.available, wallet.currency) }),
        wallet.frozen > 0 ? h('span', { class: 'frozen-chip', dataset: { testid: 'frozen' } }, icon('snow', { size: 14 }), t('Frozen {amount}', { amount: money(wallet.frozen, wallet.currency) })) : null),
    ]);
  };
  drawCard();
  app.listen(event => {
    if (event.type === 'wallet.changed') drawCard();
  });
  const pending = h('div', {});
  const drawPending = async () => {
    const [received, sent] = await Promise.all([pendingSection(app, 'received', { always: true }), pendingSection(app, 'sent')]);
    replace(pending, received, sent);
  };
  app.listen(event => {
    if (String(event.type).includes('transfer')) drawPending();
  });
  drawPending();
  const history = h('div', { class: 'list', dataset: { testid: 'history' } }, loading());
  const more = h('div', { class: 'more' });
  const section = h('div', { class: 'wallet-sections' });
  replace(pane, h('div', { class: 'page' },
    card,
    h('div', { class: 'quick-actions' },
      h('button', { class: 'btn', type: 'button', onclick: () => withdraw(app) }, icon('up', { size: 18 }), t('Withdraw')),
      h('button', { class: 'btn', type: 'button', dataset: { testid: 'money-back' }, onclick: () => renderReturns(app, section) }, icon('undo', { size: 18 }), t('Money back')),
      h('button', { class: 'btn', type: 'button', dataset: { testid: 'complaints' }, onclick: () => renderComplaints(app, section) }, icon('shield', { size: 18 }), t('Complaints'))),
    section, pending,
    h('h3', { class: 'section-title', text: t('History') }), history, more));
  const page = async cursor => {
    try {
      const answer = await api('GET', `/v1/transactions?limit=30${cursor ? `&cursor=${encode(cursor)}` : ''}`);
      if (!cursor) replace(history);
      history.append(...items(answer).map(entry => historyRow(app, entry)));
      if (!history.children.length) replace(history, emptyState(t('Nothing yet.')));
      replace(more, answer.next_cursor ? h('button', { class: 'btn small', type: 'button', text: t('Show more'), onclick: () => page(answer.next_cursor) }) : null);
    } catch (error) {
      showError(error);
    }
  };
  page();
}

/** The other person of a transaction: the party that is not the user (their name comes with it). */
function counterpart(app, entry) {
  const names = entry.names || {};
  for (const [id, name] of Object.entries(names)) remember(id, name);
  return Object.keys(names).find(id => id !== app.me.id) || null;
}

/** A transaction as a row of the history. The platform's internal reasons are not shown as memos. */
function historyRow(app, entry) {
  const [iconName, label] = KINDS[entry.kind] || ['money', entry.kind];
  const delta = Number(entry.wallet_delta);
  const other = counterpart(app, entry);
  const internal = entry.kind === 'case_refund' || entry.kind === 'reversal';
  const detail = [other ? nameOf(other) : null, internal ? null : entry.memo, formatTime(entry.created_at, language())].filter(Boolean).join(' · ');
  return h('button', { class: 'list-row', type: 'button', onclick: () => showTransaction(app, entry) }, h('span', { class: 'history-icon' }, icon(iconName)),
    h('span', { class: 'row-text' }, h('span', { class: 'row-title', text: t(label) }), h('span', { class: 'row-detail', text: detail })),
    h('b', { class: delta > 0 ? 'positive' : delta < 0 ? 'negative' : 'muted', text: formatSigned(entry.wallet_delta) }));
}

/** A transaction's details, with what can be done about it. */
function showTransaction(app, entry) {
  const related = entry.related || {};
  const delta = Number(entry.wallet_delta);
  const askable = (entry.kind === 'transfer_settle' || entry.kind === 'packet_claim') && delta <= 0;
  const other = counterpart(app, entry);
  const internal = entry.kind === 'case_refund' || entry.kind === 'reversal';
  openModal(t((KINDS[entry.kind] || [null, entry.kind])[1]), [
    h('div', { class: `big-amount ${delta > 0 ? 'positive' : 'negative'}`, text: formatSigned(entry.wallet_delta) }),
    keyValues([[t('With'), other ? nameOf(other) : null], [t('Time'), formatTime(entry.created_at, language())], [t('Memo'), internal ? null : entry.memo],
      [t('Transaction number'), h('span', { class: 'mono', text: entry.txn_no })]]),
    h('div', { class: 'actions' },
      related.packet_id ? h('button', { class: 'btn', type: 'button', text: t('The red packet'), onclick: () => openPacket(app, related.packet_id) }) : null,
      related.transfer_id ? h('button', { class: 'btn', type: 'button', text: t('The transfer'), onclick: () => showTransfer(app, related.transfer_id) }) : null,
      askable ? h('button', { class: 'btn', type: 'button', text: t('Ask for it back'), onclick: () => askBack(app, entry.txn_no) }) : null,
      h('button', { class: 'btn', type: 'button', dataset: { testid: 'receipt' }, onclick: () => downloadReceipt(entry.txn_no) }, icon('down', { size: 16 }), t('Receipt'))),
  ]);
}

/**
 * Downloads the transaction's receipt (`<txn_no>.tlog-proof`): the entry, its inclusion proof and the
 * signed checkpoint, which anyone can check offline with the operator's public key
 * (`hongbao receipt verify FILE --public-key KEY`).
 */
async function downloadReceipt(txnNo) {
  try {
    const response = await api('GET', `/v1/transactions/${encode(txnNo)}/receipt`, undefined, { raw: true });
    const blob = new Blob([await response.blob()], { type: 'application/octet-stream' });
    const url = URL.createObjectURL(blob);
    const link = h('a', { href: url, download: `${txnNo}.tlog-proof` });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
    toast(t('Receipt downloaded: anyone can check it with the operator\'s public key'), 'ok');
  } catch (error) {
    showError(error);
  }
}

function withdraw(app) {
  formModal(t('Withdraw'), [{ name: 'amount', label: t('Amount'), type: 'money', required: true, placeholder: '0.00' }, { name: 'reference', label: t('Reference'), max: 100 }], t('Withdraw'),
    async (values, key) => {
      const entry = await api('POST', '/v1/withdrawals', values, { key });
      toast(t('Withdrew {amount}', { amount: money(entry.amount, app.currency) }), 'ok');
      app.refreshWallet();
    });
}
