// The platform's settings in the console and on the admin page: the risk policy (TOML, with the line
// of an error marked), webhooks with their deliveries, merchant API keys, and the audit log.

import { api, encode, items } from './api.js';
import { h, replace } from './dom.js';
import { t } from './i18n.js';
import { badge, copyText, emptyState, loading, makeForm, money, openModal, showError, toast, when } from './ui.js';
import { can, idText, operatorAction, table, userLink } from './console.js';

// ---- the risk policy ----

export async function renderPolicy(main) {
  const editable = can('policy');
  const text = h('textarea', { class: 'code', 'aria-label': t('Risk policy (TOML)'), spellcheck: 'false', wrap: 'off', autocomplete: 'off', readOnly: !editable, value: t('Loading…') });
  const problem = h('div', { 'aria-live': 'assertive' });
  const state = h('span', { class: 'small muted grow', 'aria-live': 'polite' });
  let saved = null;
  const draw = () => (state.textContent = saved == null ? '' : text.value === saved ? t('The policy in force.') : t('Unsaved changes.'));
  const goToLine = line => {
    const lines = text.value.split('\n');
    const start = lines.slice(0, line - 1).reduce((sum, part) => sum + part.length + 1, 0);
    text.focus();
    text.setSelectionRange(start, start + (lines[line - 1] || '').length);
  };
  const load = async () => {
    try {
      saved = text.value = await api('GET', '/v1/ops/policy', undefined, { text: true });
      replace(problem);
    } catch (error) {
      showError(error);
      if (saved == null) text.value = '';
    }
    draw();
  };
  const save = async () => {
    replace(problem);
    const value = text.value;
    try {
      await api('PUT', '/v1/ops/policy', value, { type: 'application/toml', text: true });
      saved = value;
      toast(t('The risk policy is saved and in force.'), 'ok');
    } catch (error) {
      if (error.status !== 400) return showError(error);
      const line = Number((/\bline (\d+)/.exec(error.message) || [])[1] || 0);
      replace(problem, h('div', { class: 'problem', role: 'alert' }, h('b', { text: t('Not saved; the policy in force is unchanged.') }), h('div', { class: 'pre', text: error.message }),
        line ? h('button', { class: 'btn small', type: 'button', text: t('Go to line {line}', { line }), onclick: () => goToLine(line) }) : null));
      if (line) goToLine(line);
    } finally {
      draw();
    }
  };
  text.addEventListener('input', draw);
  replace(main, h('h2', { text: t('Risk policy') }),
    h('p', { class: 'small muted', text: editable ? t('Limits, confirmations, alerts and velocity rules, as TOML. Saving puts it in force at once; an invalid file is refused and the policy in force stays.')
      : t('The policy in force. Read-only: reviewers and the admin change it.') }),
    text, problem,
    h('div', { class: 'actions' }, state, h('button', { class: 'btn', type: 'button', text: t('Reload'), onclick: load }),
      editable ? h('button', { class: 'btn primary', type: 'button', text: t('Save the policy'), onclick: save }) : null));
  draw();
  await load();
}

// ---- secrets shown once ----

/** A secret (a token, a signing secret, an API key) shown once, with a copy button. */
export function revealSecret(title, about, secret, note) {
  const input = h('input', { class: 'id-text', readOnly: true, value: secret || '', 'aria-label': t('Secret'), dataset: { testid: 'secret' } });
  openModal(title, [h('div', {}, about), h('p', { class: 'negative small', text: note }),
    h('div', { class: 'id-row' }, input, h('button', { class: 'btn', type: 'button', text: t('Copy'), onclick: () => copyText(secret, t('Copied'), input) }))]);
  input.select();
}

// ---- webhooks ----

export async function renderWebhooks(main) {
  const admin = can('webhooks');
  const list = h('div', {}, loading());
  const deliveries = h('div', {});
  const load = async () => {
    try {
      const found = items(await api('GET', '/v1/ops/webhooks'));
      replace(list, found.length ? table([t('Webhook'), t('Address'), t('Added'), t('Status'), t('Actions')], found.map(hook => [
        idText(hook.id), h('span', { class: 'mono', text: hook.url }), when(hook.created_at), hook.disabled_at ? badge('disabled') : badge('active'),
        h('span', { class: 'inline-list' }, h('button', { class: 'btn small', type: 'button', text: t('Deliveries'), onclick: () => showDeliveries(deliveries, hook) }),
          admin && !hook.disabled_at ? h('button', { class: 'btn small danger', type: 'button', text: t('Disable'),
            onclick: () => operatorAction(t('Disable the webhook'), [], `/v1/ops/webhooks/${encode(hook.id)}/disable`, null, load) }) : null),
      ])) : emptyState(t('No webhooks.')));
    } catch (error) {
      showError(error);
      replace(list);
    }
  };
  replace(main, h('h2', { text: t('Webhooks') }),
    h('p', { class: 'small muted', text: admin ? t('Events are delivered to each address and retried when it fails. The signing secret is shown once.') : t('Read-only: the admin manages webhooks.') }),
    admin ? h('div', { class: 'card' }, makeForm([{ name: 'url', label: t('Address (URL)'), required: true, max: 2000, placeholder: 'https://example.com/hongbao/events' }], t('Add the webhook'),
      async (values, key, form) => {
        const hook = await api('POST', '/v1/ops/webhooks', values, { key });
        form.reset();
        load();
        revealSecret(t('Webhook added'), h('span', { class: 'mono', text: hook.url }), hook.secret, t('This signing secret is shown once. Copy it into the receiver now.'));
      })) : null,
    list, deliveries);
  await load();
}

async function showDeliveries(slot, hook) {
  replace(slot, loading());
  try {
    const found = items(await api('GET', `/v1/ops/webhooks/${encode(hook.id)}/deliveries?limit=50`));
    replace(slot, h('div', { class: 'card' }, h('h3', { text: t('Deliveries to {url}', { url: hook.url }) }),
      found.length ? table([t('Event'), t('Status'), t('Attempts'), t('Last attempt'), t('Next attempt')], found.map(delivery => [
        delivery.event_id, badge(delivery.status), String(delivery.attempts ?? 0),
        [delivery.last_attempt_at ? when(delivery.last_attempt_at) : '—', delivery.last_status != null ? ` · HTTP ${delivery.last_status}` : '', delivery.last_error ? h('div', { class: 'negative small', text: delivery.last_error }) : null],
        delivery.status === 'pending' ? when(delivery.next_attempt_at) : '—',
      ])) : emptyState(t('No deliveries yet.'))));
  } catch (error) {
    showError(error);
    replace(slot);
  }
}

// ---- merchant API keys ----

const SCOPES = ['wallet:read', 'transactions:read', 'transfers:write', 'packets:write', 'withdrawals:write', 'events:read'];

export async function renderMerchantKeys(main) {
  const admin = can('merchant_keys');
  const list = h('div', {}, loading());
  const limit = value => (value == null ? t('policy only') : money(value));
  const load = async () => {
    try {
      const found = items(await api('GET', '/v1/ops/merchant-keys'));
      replace(list, found.length ? table([t('Key'), t('Name'), t('Wallet'), t('Scopes'), t('Networks'), t('Limits'), t('Status'), t('Actions')], found.map(key => [
        idText(key.id), key.name, userLink(key.user_id), h('span', { class: 'inline-list' }, (key.scopes || []).map(scope => h('span', { class: 'badge', text: scope }))),
        h('span', { class: 'mono small', text: (key.allowed_cidrs || []).join(', ') }),
        t('{payment} a payment, {day} a day', { payment: limit(key.max_transaction_amount), day: limit(key.daily_amount) }),
        key.revoked_at ? badge('revoked') : badge('active'),
        admin && !key.revoked_at ? h('button', { class: 'btn small danger', type: 'button', text: t('Revoke'),
          onclick: () => operatorAction(t('Revoke the key'), [], `/v1/ops/merchant-keys/${encode(key.id)}/revoke`, null, load) }) : '—',
      ])) : emptyState(t('No API keys.')));
    } catch (error) {
      showError(error);
      replace(list);
    }
  };
  const scopes = h('fieldset', { class: 'checks' }, h('legend', { text: t('Scopes') }), SCOPES.map(scope => h('label', {}, h('input', { type: 'checkbox', name: 'scope', value: scope }), h('span', { class: 'mono', text: scope }))));
  replace(main, h('h2', { text: t('Merchant API keys') }),
    h('p', { class: 'small muted', text: admin ? t('A key acts for one wallet, with the scopes, networks and limits given here. Its secret is shown once.') : t('Read-only: the admin manages API keys.') }),
    admin ? h('div', { class: 'card' }, makeForm([
      { name: 'user_id', label: t('Merchant wallet (user id)'), required: true, placeholder: 'usr_…' }, { name: 'name', label: t('Key name'), required: true, max: 100 },
      { name: 'allowed_cidrs', label: t('Allowed networks (CIDR)'), required: true, placeholder: '203.0.113.0/24', hint: t('Separate them with commas.') },
      { name: 'max_transaction_amount', label: t('Most per payment'), type: 'money' }, { name: 'daily_amount', label: t('Most per day'), type: 'money' },
    ], t('Create the key'), async (values, key, form) => {
      const chosen = [...form.querySelectorAll('input[name=scope]:checked')].map(input => input.value);
      if (!chosen.length) throw new Error(t('Choose at least one scope'));
      const body = { user_id: values.user_id, name: values.name, scopes: chosen, allowed_cidrs: values.allowed_cidrs.split(/[\s,]+/).filter(Boolean) };
      if (values.max_transaction_amount != null) body.max_transaction_amount = values.max_transaction_amount;
      if (values.daily_amount != null) body.daily_amount = values.daily_amount;
      const created = await api('POST', '/v1/ops/merchant-keys', body, { key });
      form.reset();
      load();
      revealSecret(t('API key created'), h('b', { text: created.name }), created.secret, t('This secret is shown once. Hand it to the merchant safely now.'));
    }, scopes)) : null,
    list);
  await load();
}

// ---- the audit log ----

export async function renderAudit(main, cursors = [null]) {
  const cursor = cursors[cursors.length - 1];
  const list = h('div', {}, loading());
  let next = null;
  const olderButton = h('button', { class: 'btn small', type: 'button', text: t('Older'), disabled: true, onclick: () => renderAudit(main, [...cursors, next]) });
  replace(main, h('div', { class: 'filters' }, h('h2', { class: 'grow', text: t('Audit log') }), h('span', { class: 'small muted', text: t('Page {page}', { page: cursors.length }) }),
    h('button', { class: 'btn small', type: 'button', text: t('Newer'), disabled: cursors.length === 1, onclick: () => renderAudit(main, cursors.slice(0, -1)) }), olderButton), list);
  try {
    const answer = await api('GET', `/v1/ops/audit?limit=100${cursor ? `&cursor=${encode(cursor)}` : ''}`);
    next = answer.next_cursor;
    olderButton.disabled = !next;
    replace(list, table(['#', t('When'), t('Who'), t('Action'), t('Target'), t('Reason'), t('Hash')], items(answer).map(entry => [
      String(entry.seq), when(entry.at), [idText(entry.actor_id), ' ', entry.actor_role ? badge(entry.actor_role) : null], h('span', { class: 'mono', text: entry.action }),
      h('span', { class: 'mono', text: typeof entry.target === 'object' ? JSON.stringify(entry.target) : entry.target }), entry.reason,
      h('span', { class: 'mono small', title: entry.hash, text: String(entry.hash || '').slice(0, 12) }),
    ])));
  } catch (error) {
    showError(error);
    replace(list);
  }
}
