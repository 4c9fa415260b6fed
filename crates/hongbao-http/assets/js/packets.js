// Red packets in a chat: the bubble, the packet opened in a sheet with who got what by name and the
// luckiest marked, the form that sends one, and the countdowns of timed packets.

import { api, encode } from './api.js';
import { h, replace } from './dom.js';
import { formatCountdown, formatCurrency, formatMoney, formatTime, parseMoney } from './format.js';
import { icon } from './icons.js';
import { language, t, tn } from './i18n.js';
import { isMe, nameOf, who, learn } from './people.js';
import { pay } from './payments.js';
import { ask, avatar, badge, bindSubmit, closeModal, field, money, openModal, showError, toast } from './ui.js';
import { askBack } from './returns.js';

export const KIND_NAMES = { normal: 'Normal', lucky: 'Lucky', timed: 'Timed', exclusive: 'Exclusive' };
const DEFAULT_GREETING = 'Best wishes, good fortune!';

/** Whether the signed-in user has opened this packet, and what they got. */
export function myClaim(packet) {
  return (packet.claims || []).find(claim => isMe(claim.user_id));
}

/** Whether the signed-in user may open it now. */
export function canOpen(packet) {
  if (packet.status !== 'open' || myClaim(packet)) return false;
  if (isMe(packet.sender_id)) return !!packet.group_id && !packet.recipient_id;
  return !packet.recipient_id || isMe(packet.recipient_id);
}

/** What a bubble says under the greeting. */
export function packetState(packet, currency = 'CNY') {
  const mine = myClaim(packet);
  if (mine) return t('Opened · you got {amount}', { amount: formatCurrency(mine.amount, currency) });
  if (packet.status === 'open') {
    if (packet.recipient_id && !isMe(packet.recipient_id)) return t('For {name}', { name: who(packet.recipient_id) });
    return isMe(packet.sender_id) && !canOpen(packet) ? t('Waiting to be opened') : t('Tap to open');
  }
  return { exhausted: t('All claimed'), expired: t('Expired · refunded'), recalled: t('Recalled · refunded') }[packet.status] || packet.status;
}

/** A packet as a bubble in a conversation. */
export function packetBubble(app, packet) {
  const done = packet.status !== 'open' || !!myClaim(packet);
  const timed = packet.kind === 'timed' && packet.status === 'open';
  const sender = who(packet.sender_id);
  return h('button', {
    class: `bubble packet-bubble${done ? ' done' : ''}`, type: 'button', dataset: { testid: 'packet-bubble', packet: packet.id, status: packet.status },
    'aria-label': t('{kind} red packet from {name}: {greeting}. {state}', { kind: t(KIND_NAMES[packet.kind]), name: sender, greeting: packet.greeting || t(DEFAULT_GREETING), state: packetState(packet, app.currency) }),
    onclick: () => openPacket(app, packet.id),
  },
  h('span', { class: 'packet-top' }, h('span', { class: 'packet-seal' }, icon('packet', { size: 30 })),
    h('span', { class: 'packet-text' }, h('span', { class: 'packet-greeting', text: packet.greeting || t(DEFAULT_GREETING) }),
      h('span', { class: 'packet-state', text: packetState(packet, app.currency), dataset: { testid: 'packet-state' } }),
      timed ? countdown('packet-countdown', packet.expires_at, 'countdown') : null)),
  h('span', { class: 'bubble-foot' }, h('span', { text: t('{kind} red packet', { kind: t(KIND_NAMES[packet.kind]) }) }),
    h('span', { text: t('{claimed}/{shares} opened', { claimed: packet.claimed_count, shares: packet.shares }) })));
}

/** Fetches a packet with its names. */
export async function fetchPacket(id) {
  return learn(await api('GET', `/v1/packets/${encode(id)}`));
}

/** Opens a packet in the modal: the 開 button when it may be opened, else what the user got, and the claims by name. */
export async function openPacket(app, id, { won = null, note = '' } = {}) {
  let packet;
  try {
    packet = await fetchPacket(id);
  } catch (error) {
    showError(error);
    return;
  }
  const mine = isMe(packet.sender_id);
  const claimed = myClaim(packet);
  const amountWon = won ?? claimed?.amount;
  const open = h('button', { class: 'open-button', type: 'button', 'aria-label': t('Open the red packet'), text: '開', dataset: { testid: 'open-packet' } });
  open.addEventListener('click', async () => {
    open.disabled = true;
    open.classList.add('spinning');
    try {
      const claim = await api('POST', `/v1/packets/${encode(packet.id)}/claim`);
      await new Promise(resolve => setTimeout(resolve, 400));
      const fresh = await fetchPacket(packet.id);
      app.changed({ type: 'local.packet', packet: fresh });
      openPacket(app, packet.id, { won: claim.amount });
    } catch (error) {
      open.classList.remove('spinning');
      if (['already_claimed', 'packet_exhausted', 'packet_expired', 'packet_recalled', 'not_in_audience'].includes(error.code)) {
        const fresh = await fetchPacket(packet.id).catch(() => null);
        if (fresh) app.changed({ type: 'local.packet', packet: fresh });
        showError(error);
        openPacket(app, packet.id);
      } else {
        open.disabled = false;
        showError(error);
      }
    }
  });
  const head = h('div', { class: 'packet-sheet' },
    h('div', { class: 'packet-from' }, avatar(nameOf(packet.sender_id), packet.sender_id, 'small'), h('span', { text: mine ? t('Your red packet') : t("{name}'s red packet", { name: nameOf(packet.sender_id) }) })),
    h('div', { class: 'packet-sheet-greeting', text: packet.greeting || t(DEFAULT_GREETING) }),
    amountWon != null
      ? [h('div', { class: 'packet-won', role: 'status', dataset: { testid: 'amount-won' } }, h('small', { text: app.currency === 'CNY' ? '¥' : `${app.currency} ` }), formatMoney(amountWon)),
        h('div', { class: 'small', text: won != null ? t('Saved to your wallet') : t('You opened this red packet') })]
      : canOpen(packet) ? open : h('div', { class: 'packet-sheet-state', text: packetState(packet, app.currency) }),
    note ? h('div', { class: 'packet-sheet-state', role: 'alert', text: note }) : null);
  const summary = mine
    ? t('{claimed}/{shares} opened, {amount} of {total}', { claimed: packet.claimed_count, shares: packet.shares, amount: formatMoney(packet.claimed_amount), total: formatMoney(packet.total_amount) })
    : tn(packet.shares, '{claimed} of 1 share opened', '{claimed} of {count} shares opened', { claimed: packet.claimed_count });
  const claims = h('ul', { class: 'claims', 'aria-label': t('Who opened it'), dataset: { testid: 'claims' } }, (packet.claims || []).map(claim => {
    const luckiest = packet.luckiest_user_id === claim.user_id;
    return h('li', { dataset: { testid: 'claim', name: nameOf(claim.user_id) } }, avatar(nameOf(claim.user_id), claim.user_id, 'small'),
      h('span', { class: 'row-text' }, h('span', { class: 'row-title', text: who(claim.user_id) }), h('span', { class: 'row-detail', text: formatTime(claim.claimed_at, language()) })),
      h('span', { class: 'claim-amount' }, h('b', { text: money(claim.amount, app.currency) }),
        luckiest ? h('span', { class: 'luckiest', dataset: { testid: 'luckiest' } }, icon('crown', { size: 14 }), t('Luckiest')) : null,
        mine && !isMe(claim.user_id) && claim.txn_no ? h('button', { class: 'link-button', type: 'button', text: t('Ask back'), onclick: () => askBack(app, claim.txn_no) }) : null));
  }));
  const recall = mine && packet.status === 'open'
    ? h('button', { class: 'btn danger', type: 'button', text: t('Recall'), onclick: async () => {
      if (!(await ask(t('Recall this red packet?'), t('Recall'), { danger: true, detail: t('What nobody has opened comes back to your wallet at once.') }))) return;
      try {
        const fresh = learn(await api('POST', `/v1/packets/${encode(packet.id)}/recall`));
        toast(t('Recalled: the rest is back in your wallet.'), 'ok');
        app.changed({ type: 'local.packet', packet: fresh });
        openPacket(app, packet.id);
      } catch (error) {
        showError(error);
      }
    } })
    : null;
  const timed = packet.kind === 'timed' && packet.status === 'open';
  // While it is open, the sheet follows the packet: another claim, the last share, a refund.
  let stop = null;
  const body = openModal(t('{kind} red packet', { kind: t(KIND_NAMES[packet.kind]) }), [
    head,
    h('div', { class: 'packet-summary' }, badge(packet.status), h('span', { class: 'grow small muted', text: summary }),
      timed ? countdown('countdown-chip', packet.expires_at) : null),
    packet.recipient_id ? h('p', { class: 'small muted', text: t('For {name}', { name: who(packet.recipient_id) }) }) : null,
    mine && packet.status === 'open' ? h('p', { class: 'small muted', text: tn(packet.remaining_count, '{count} share left: {amount}', '{count} shares left: {amount}', { amount: money(packet.remaining_amount, app.currency) }) }) : null,
    packet.refunded_amount > 0 ? h('p', { class: 'small muted', text: t('{amount} came back to the sender.', { amount: money(packet.refunded_amount, app.currency) }) }) : null,
    claims,
    recall ? h('div', { class: 'actions' }, recall) : null,
  ], { onClose: () => stop?.() });
  body.dataset.packet = packet.id;
  stop = app.listen(event => {
    if (event.subject_id === packet.id && body.dataset.packet === packet.id && body.isConnected) openPacket(app, packet.id, { won, note });
  });
  if (timed) whenDue(new Date(packet.expires_at).getTime() + 800, () => {
    if (body.dataset.packet === packet.id && body.closest('dialog')?.open) openPacket(app, packet.id, { won, note });
  });
  tickCountdowns();
}

/**
 * The form that sends a red packet: to a group (lucky, normal, exclusive to one member, timed) or to
 * one person (normal or timed).
 */
export function composePacket(app, target) {
  const toGroup = target.kind === 'group';
  const kinds = toGroup ? ['lucky', 'normal', 'exclusive', 'timed'] : ['normal', 'timed'];
  let kind = kinds[0];
  const members = toGroup ? target.group.member_ids.filter(id => !isMe(id)) : [];
  const amount = field({ name: 'amount', label: t('Total amount'), type: 'money', required: true, placeholder: '0.00', testid: 'packet-amount' });
  const shares = field({ name: 'shares', label: t('Shares'), type: 'number', min: 1, value: String(Math.max(1, Math.min(members.length || 1, 100))), testid: 'packet-shares' });
  const recipient = field({ name: 'recipient_id', label: t('For'), type: 'select', options: members.map(id => [id, nameOf(id)]) });
  const countdown = field({ name: 'expires_in_seconds', label: t('Countdown (seconds)'), type: 'number', min: 1, value: '60', testid: 'packet-countdown' });
  const greeting = field({ name: 'greeting', label: t('Greeting'), max: 100, placeholder: t(DEFAULT_GREETING), testid: 'packet-greeting' });
  const total = h('p', { class: 'small muted', 'aria-live': 'polite' });
  const kindButtons = h('div', { class: 'segmented', role: 'group', 'aria-label': t('Kind of red packet') }, kinds.map(name =>
    h('button', { type: 'button', 'aria-pressed': String(name === kind), text: t(KIND_NAMES[name]), dataset: { testid: `kind-${name}` }, onclick: () => { kind = name; sync(); } })));
  const form = h('form', { class: 'form', novalidate: true, dataset: { testid: 'packet-form' } }, kindButtons, amount, toGroup ? shares : null, recipient, countdown, greeting, total,
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'btn packet-send', dataset: { testid: 'send-packet' } }, icon('packet', { size: 18 }), t('Put money in'))));
  const shareCount = () => parseInt(form.elements.shares?.value, 10);
  function sync() {
    kindButtons.querySelectorAll('button').forEach((button, index) => button.setAttribute('aria-pressed', String(kinds[index] === kind)));
    amount.querySelector('.field-label').textContent = kind === 'normal' && toGroup ? t('Amount each') : t('Total amount');
    shares.hidden = kind === 'exclusive';
    recipient.hidden = kind !== 'exclusive';
    countdown.hidden = kind !== 'timed';
    let text = '';
    try {
      const value = parseMoney(form.elements.amount.value);
      if (value > 0) text = kind === 'normal' && toGroup && shareCount() > 0 ? t('{total} in all', { total: money(value * shareCount(), app.currency) }) : t('{total} in all', { total: money(value, app.currency) });
    } catch {
      text = '';
    }
    total.textContent = text;
  }
  form.addEventListener('input', sync);
  bindSubmit(form, async key => {
    const value = parseMoney(form.elements.amount.value || '');
    if (value <= 0) throw new Error(t('Total amount must be more than 0'));
    const body = { kind };
    if (toGroup) body.group_id = target.group.id;
    else body.recipient_id = target.id;
    if (kind === 'normal') Object.assign(body, { amount_per_share: value }, toGroup ? { shares: shareCount() } : {});
    else body.total_amount = value;
    if (toGroup && (kind === 'lucky' || kind === 'timed')) body.shares = shareCount();
    if (kind === 'exclusive') {
      if (!form.elements.recipient_id.value) throw new Error(t('Nobody else is in this group.'));
      body.recipient_id = form.elements.recipient_id.value;
    }
    if (kind === 'timed' && form.elements.expires_in_seconds.value) body.expires_in_seconds = parseInt(form.elements.expires_in_seconds.value, 10);
    const text = form.elements.greeting.value.trim();
    if (text) body.greeting = text;
    if ('shares' in body && !(body.shares >= 1)) throw new Error(t('Shares must be at least 1'));
    const packet = await pay(app, '/v1/packets', body, key);
    if (!packet) return;
    closeModal();
    toast(t('Red packet sent'), 'ok');
    app.changed({ type: 'local.packet', packet: learn(packet) });
  });
  sync();
  openModal(toGroup ? t('Red packet to {name}', { name: target.group.name }) : t('Red packet to {name}', { name: nameOf(target.id) }), form);
  form.elements.amount.focus();
}

// ---- countdowns ----

const dueCallbacks = new Set();

/** Shows on `element` the time left until its deadline. */
function showTimeLeft(element, now) {
  const left = new Date(element.dataset.deadline).getTime() - now;
  element.replaceChildren(icon('clock', { size: 14 }), left > 0 ? t('{time} left', { time: formatCountdown(left) }) : t('Time is up'));
  element.classList.toggle('over', left <= 0);
}

/** A countdown to `deadline`, showing the time left from the start; the clock below moves it on. */
function countdown(className, deadline, testid) {
  const element = h('span', { class: className, dataset: testid ? { deadline, testid } : { deadline } });
  showTimeLeft(element, Date.now());
  return element;
}

/** Shows the time left on every element with a deadline, and runs the callbacks whose time came. */
export function tickCountdowns() {
  const now = Date.now();
  for (const element of document.querySelectorAll('[data-deadline]')) showTimeLeft(element, now);
  for (const due of [...dueCallbacks]) {
    if (due.at <= now) {
      dueCallbacks.delete(due);
      due.callback();
    }
  }
}

/** Runs `callback` once at `at` (milliseconds since the epoch), on the countdowns' clock. */
export function whenDue(at, callback) {
  const due = { at, callback };
  dueCallbacks.add(due);
  return () => dueCallbacks.delete(due);
}

/** Starts the countdowns' clock; returns the function that stops it. */
export function startCountdowns() {
  const timer = setInterval(tickCountdowns, 1000);
  return () => {
    clearInterval(timer);
    dueCallbacks.clear();
  };
}

/** Replaces the children of a bubble's holder with the packet's current bubble. */
export function redrawPacket(app, holder, packet) {
  replace(holder, packetBubble(app, packet));
}
