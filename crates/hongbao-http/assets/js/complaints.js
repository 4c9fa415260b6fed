// Complaints (投诉): filing one with evidence files, following it, and adding evidence when the
// platform asks. Evidence is uploaded file by file, each with its kind.

import { api, encode, items, uuid } from './api.js';
import { h, replace } from './dom.js';
import { icon } from './icons.js';
import { t } from './i18n.js';
import { badge, closeModal, emptyState, field, keyValues, loading, money, openModal, readFields, bindSubmit, showError, toast, when } from './ui.js';

export const EVIDENCE_LABELS = {
  chat_record: 'Chat records', guardian_identity: "Guardian's identity proof", guardianship_document: 'Guardianship document',
  operation_recording: 'Operation recording', log: 'Logs', other: 'Other',
};
export const COMPLAINT_KINDS = [['fraud', 'Fraud'], ['minor', "A minor's spending"], ['system_fault', 'System fault'], ['other', 'Other']];
const DEFAULT_LABEL = { fraud: 'chat_record', minor: 'guardian_identity', system_fault: 'log', other: 'other' };
const MAX_FILE_BYTES = 20 * 1024 * 1024;

export const kindText = kind => t((COMPLAINT_KINDS.find(([value]) => value === kind) || [null, kind])[1]);
export const evidenceText = label => t(EVIDENCE_LABELS[label] || label);
const size = bytes => (bytes >= 1048576 ? `${(bytes / 1048576).toFixed(1)} MiB` : `${Math.ceil(bytes / 1024)} KiB`);

/** The user's complaints in `container`, with the button that files a new one. */
export async function renderComplaints(app, container) {
  const list = h('div', { class: 'list' }, loading());
  replace(container, h('section', { class: 'card' }, h('div', { class: 'card-head' }, h('h3', { class: 'grow', text: t('Complaints') }),
    h('button', { class: 'btn small primary', type: 'button', text: t('New complaint'), onclick: () => newComplaint(app, container) })), list));
  try {
    const complaints = items(await api('GET', '/v1/complaints?limit=100'));
    replace(list, complaints.length ? complaints.map(complaint => h('button', { class: 'list-row', type: 'button', onclick: () => showComplaint(app, complaint.id) },
      h('span', { class: 'history-icon' }, icon('shield')),
      h('span', { class: 'row-text' }, h('span', { class: 'row-title', text: kindText(complaint.kind) }),
        h('span', { class: 'row-detail', text: t('Filed {time}', { time: when(complaint.created_at) }) })), badge(complaint.status)))
      : emptyState(t('No complaints. If something went wrong with a payment, tell us here.')));
  } catch (error) {
    showError(error);
  }
}

/** A file picker that keeps the chosen files, each with its kind of evidence. */
function evidencePicker(defaultLabel) {
  const rows = [];
  const list = h('div', { class: 'stack' });
  const input = h('input', { type: 'file', multiple: true, 'aria-label': t('Evidence files'), accept: 'image/*,video/*,application/pdf,text/*,.log' });
  const draw = () => replace(list, rows.map(row => h('div', { class: 'file-row' }, icon('file', { size: 16 }), h('span', { class: 'grow', text: `${row.file.name} · ${size(row.file.size)}` }),
    h('select', { 'aria-label': t('Kind of evidence'), onchange: event => (row.label = event.target.value) },
      Object.keys(EVIDENCE_LABELS).map(value => h('option', { value, text: evidenceText(value), selected: value === row.label }))),
    h('button', { class: 'icon-button', type: 'button', 'aria-label': t('Remove'), onclick: () => { rows.splice(rows.indexOf(row), 1); draw(); } }, icon('close', { size: 16 })))));
  input.addEventListener('change', () => {
    for (const file of input.files) {
      if (file.size > MAX_FILE_BYTES) {
        toast(t('{name} is larger than 20 MiB', { name: file.name }), 'error');
        continue;
      }
      rows.push({ file, label: defaultLabel(), key: uuid() });
    }
    input.value = '';
    draw();
  });
  return { element: h('div', { class: 'field' }, h('span', { class: 'field-label', text: t('Evidence files') }), input, list), rows };
}

/** Uploads the chosen files one by one (each once, even when the form is sent again); their ids. */
async function upload(rows, progress) {
  const ids = [];
  for (const [index, row] of rows.entries()) {
    if (!row.uploaded) {
      progress(t('Uploading {index} of {count}: {name}', { index: index + 1, count: rows.length, name: row.file.name }));
      const data = new FormData();
      data.append('label', row.label);
      data.append('file', row.file, row.file.name);
      row.uploaded = await api('POST', '/v1/evidence', data, { key: row.key });
    }
    ids.push(row.uploaded.id);
  }
  return ids;
}

function newComplaint(app, container) {
  const descriptions = [
    { name: 'kind', label: t('What happened'), type: 'select', required: true, options: COMPLAINT_KINDS.map(([value, label]) => [value, t(label)]) },
    { name: 'txn_nos', label: t('Transaction numbers'), placeholder: 'txn_…, txn_…', hint: t('Find them in your history; separate them with commas.') },
    { name: 'description', label: t('Description'), type: 'textarea', required: true, max: 5000 },
  ];
  const form = h('form', { class: 'form', novalidate: true }, descriptions.map(field));
  const files = evidencePicker(() => DEFAULT_LABEL[form.elements.kind.value] || 'other');
  const progress = h('p', { class: 'small muted', 'aria-live': 'polite' });
  form.append(files.element, progress, h('div', { class: 'actions' }, h('button', { class: 'btn primary', type: 'submit', text: t('Submit the complaint') })));
  bindSubmit(form, async key => {
    const values = readFields(form, descriptions);
    const evidence = await upload(files.rows, text => (progress.textContent = text));
    progress.textContent = t('Submitting…');
    const txnNos = String(values.txn_nos || '').split(/[\s,]+/).filter(Boolean);
    const complaint = await api('POST', '/v1/complaints', { kind: values.kind, txn_nos: txnNos, description: values.description, evidence_ids: evidence }, { key });
    closeModal();
    toast(t('Complaint submitted'), 'ok');
    renderComplaints(app, container);
    showComplaint(app, complaint.id);
  });
  openModal(t('New complaint'), [h('p', { class: 'small muted', text: t('Say what happened and attach what you have. A case handler reviews it; you can add evidence later.') }), form]);
}

async function showComplaint(app, id) {
  let complaint;
  try {
    complaint = await api('GET', `/v1/complaints/${encode(id)}`);
  } catch (error) {
    showError(error);
    return;
  }
  const open = complaint.status !== 'resolved';
  let addForm = null;
  if (open) {
    const files = evidencePicker(() => DEFAULT_LABEL[complaint.kind] || 'other');
    addForm = h('form', { class: 'form' }, files.element, h('div', { class: 'actions' }, h('button', { class: 'btn', type: 'submit', text: t('Upload') })));
    bindSubmit(addForm, async key => {
      if (!files.rows.length) throw new Error(t('Choose at least one file'));
      const evidence = await upload(files.rows, () => {});
      await api('POST', `/v1/complaints/${encode(complaint.id)}/evidence`, { evidence_ids: evidence }, { key });
      toast(t('Evidence added'), 'ok');
      showComplaint(app, complaint.id);
    });
  }
  openModal(t('Complaint'), [
    h('div', { class: 'card-head' }, badge(complaint.status), complaint.outcome ? badge(complaint.outcome) : null),
    open && complaint.missing_evidence?.length ? h('div', { class: 'notice', role: 'note' }, t('The platform needs more evidence: {list}', { list: complaint.missing_evidence.map(evidenceText).join(', ') })) : null,
    keyValues([[t('Kind'), kindText(complaint.kind)], [t('Filed'), when(complaint.created_at)], [t('Answer due'), when(complaint.due_at)],
      [t('Resolved'), complaint.resolved_at ? when(complaint.resolved_at) : null], complaint.refunded_amount > 0 ? [t('Refunded'), money(complaint.refunded_amount, app.currency)] : null,
      [t('Description'), h('div', { class: 'pre', text: complaint.description })], [t('Evidence'), String((complaint.evidence_ids || []).length)]]),
    complaint.note ? h('div', { class: 'notice' }, h('b', { text: t('From the platform: ') }), complaint.note) : null,
    addForm,
  ]);
}
