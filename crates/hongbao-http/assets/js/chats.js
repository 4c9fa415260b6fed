// Chats: the list of group chats and one-to-one conversations, with the transfers waiting for an
// answer on top; a group chat of red packets; a one-to-one chat of transfers and packets. Every open
// chat follows the live event stream: a packet sent to the group appears, a claim or a refund
// updates its bubble, an accepted transfer changes its bubble, without polling.

import { api, encode, items } from './api.js';
import { h, replace } from './dom.js';
import { formatTime } from './format.js';
import { icon } from './icons.js';
import { language, t, tn } from './i18n.js';
import { isMe, learn, loadContacts, lookUp, nameOf, personPicker, who } from './people.js';
import { composePacket, fetchPacket, packetBubble, whenDue } from './packets.js';
import { composeTransfer, pendingSection, transferBubble } from './transfers.js';
import { avatar, emptyState, formModal, loading, openModal, showError, toast } from './ui.js';
import { editTag, tagBadge } from './tags.js';

const UNREAD_KEY = 'hongbao.unread';

function unreadSet() {
  try {
    return new Set(JSON.parse(sessionStorage.getItem(UNREAD_KEY) || '[]'));
  } catch {
    return new Set();
  }
}

function saveUnread(set) {
  sessionStorage.setItem(UNREAD_KEY, JSON.stringify([...set].slice(-200)));
}

// ---- the list ----

/** The chats tab's list: transfers waiting for the user, group chats, and people they have dealt with. */
export function renderChatList(app, pane) {
  const pending = h('div', {});
  const groups = h('div', { class: 'list', dataset: { testid: 'group-list' } }, loading());
  const people = h('div', { class: 'list', dataset: { testid: 'people-list' } });
  replace(pane, h('div', { class: 'pane-head' }, h('h2', { text: t('Chats') }),
    h('button', { class: 'btn small primary', type: 'button', dataset: { testid: 'new-group' }, onclick: () => newGroup(app) }, icon('plus', { size: 16 }), t('New group'))),
  pending, h('h3', { class: 'section-title', text: t('Groups') }), groups, h('h3', { class: 'section-title', text: t('People') }), people);
  const unread = unreadSet();
  const mark = (row, id) => row.classList.toggle('unread', unread.has(id));
  const current = () => (app.open?.kind === 'group' ? app.open.group.id : app.open?.id);

  const drawPending = async () => replace(pending, await pendingSection(app, 'received'));
  const drawGroups = async () => {
    try {
      const list = learn(items(await api('GET', '/v1/groups?limit=200')));
      replace(groups, list.length ? list.map(group => {
        const row = h('button', { class: 'list-row', type: 'button', dataset: { chat: group.id, testid: `chat-${group.name}` }, 'aria-current': current() === group.id ? 'true' : null,
          onclick: () => {
            unread.delete(group.id);
            saveUnread(unread);
            row.classList.remove('unread');
            app.openGroup(group);
          } },
        h('span', { class: 'group-avatar', 'aria-hidden': 'true' }, icon('users', { size: 22 })),
        h('span', { class: 'row-text' }, h('span', { class: 'row-title' }, group.name, ' ', tagBadge(group.id)),
          h('span', { class: 'row-detail', text: tn(group.member_ids.length, '1 member', '{count} members') })),
        h('span', { class: 'unread-dot', 'aria-label': t('New') }));
        mark(row, group.id);
        return row;
      }) : emptyState(t('No groups yet. Make one with the people you pay.')));
    } catch (error) {
      showError(error);
      replace(groups);
    }
  };
  const drawPeople = async () => {
    try {
      const contacts = (await loadContacts(true)).filter(contact => contact.dealt_with);
      replace(people, contacts.length ? contacts.map(contact => {
        const row = h('button', { class: 'list-row', type: 'button', dataset: { chat: contact.id, testid: `chat-${contact.name}` }, 'aria-current': current() === contact.id ? 'true' : null,
          onclick: () => {
            unread.delete(contact.id);
            saveUnread(unread);
            row.classList.remove('unread');
            app.openPerson(contact.id);
          } },
        avatar(contact.name, contact.id), h('span', { class: 'row-text' }, h('span', { class: 'row-title' }, contact.name, ' ', tagBadge(contact.id)),
          h('span', { class: 'row-detail', text: t('Transfers and red packets') })),
        h('span', { class: 'unread-dot', 'aria-label': t('New') }));
        mark(row, contact.id);
        return row;
      }) : emptyState(t('Nobody yet: pay someone from Contacts, or in a group.')));
    } catch (error) {
      showError(error);
    }
  };
  drawPending();
  drawGroups();
  drawPeople();

  // New packets and transfers mark their chat as unread unless it is open; transfers redraw the waiting list.
  let peopleTimer = 0;
  app.chatList = {
    /** Draws the groups and the people again: after a new group, or a first payment with someone. */
    refresh() {
      if (!pane.isConnected) return;
      drawGroups();
      drawPeople();
    },
    onEvent(event) {
      if (!pane.isConnected) return;
      const data = event.data || {};
      let chat = null;
      if (event.type === 'packet.received') chat = data.group_id || data.sender_id;
      if (event.type === 'transfer.created') chat = isMe(data.sender_id) ? data.recipient_id : data.sender_id;
      if (event.type === 'local.transfer') chat = isMe(event.transfer.sender_id) ? event.transfer.recipient_id : event.transfer.sender_id;
      if (event.type === 'local.packet' && event.packet.recipient_id) chat = isMe(event.packet.sender_id) ? event.packet.recipient_id : event.packet.sender_id;
      if (chat) {
        const row = pane.querySelector(`[data-chat="${CSS.escape(chat)}"]`);
        if (chat !== current() && !event.type.startsWith('local.')) {
          unread.add(chat);
          saveUnread(unread);
          row?.classList.add('unread');
        }
        // Someone paid for the first time, or a group one was just added to: the list grows.
        if (!row) {
          if (chat.startsWith('grp_')) drawGroups();
          else drawPeople();
        }
      }
      if (String(event.type).includes('transfer')) drawPending();
      // A first payment with someone (a claim of one's packet, a transfer) adds them to the people.
      if (/^(packet\.(claimed|exhausted)|transfer\.settled)$/.test(event.type)) {
        clearTimeout(peopleTimer);
        peopleTimer = setTimeout(drawPeople, 400);
      }
    },
  };
}

/** The form that makes a group, its members chosen by name. */
function newGroup(app) {
  const picker = personPicker({ multiple: true, label: t('Members') });
  formModal(t('New group'), [{ name: 'name', label: t('Group name'), required: true, max: 64, placeholder: t('Family'), testid: 'group-name' }], t('Create'),
    async (values, key) => {
      const members = picker.chosen();
      const group = learn(await api('POST', '/v1/groups', { name: values.name, member_ids: members }, { key }));
      toast(t('Group “{name}” made', { name: group.name }), 'ok');
      const fresh = learn(await api('GET', `/v1/groups/${encode(group.id)}`));
      app.openGroup(fresh);
      app.chatList?.refresh();
    }, t('Choose the members by name; you are the owner.'));
  const form = document.querySelector('#modal-body form');
  form.insertBefore(h('div', { class: 'field' }, h('span', { class: 'field-label', text: t('Members') }), picker.element), form.querySelector('.actions'));
}

// ---- a conversation ----

/**
 * The frame of an open chat: its head, the message list, and the bar at the bottom. `items` are kept
 * by id and drawn oldest first; `upsert` adds or replaces one in place.
 */
function conversation(app, pane, { title, subtitle, headExtra, composer, avatarElement, testid }) {
  const messages = h('div', { class: 'messages', role: 'log', 'aria-label': title, dataset: { testid } });
  const kept = new Map();
  const head = h('div', { class: 'chat-head' },
    h('button', { class: 'icon-button back', type: 'button', 'aria-label': t('Back'), dataset: { testid: 'back' }, onclick: () => app.closeConversation() }, icon('back')),
    avatarElement, h('span', { class: 'row-text' }, h('span', { class: 'row-title', text: title }), subtitle ? h('span', { class: 'row-detail', text: subtitle }) : null),
    headExtra);
  replace(pane, h('div', { class: 'chat' }, head, messages, h('div', { class: 'composer' }, composer)));
  const nearBottom = () => messages.scrollHeight - messages.scrollTop - messages.clientHeight < 80;
  return {
    messages,
    /** Adds or replaces an item: `{ id, createdAt, senderId, element }`. */
    upsert(item, { scroll = false } = {}) {
      const stick = scroll || nearBottom();
      const row = h('div', { class: `message${isMe(item.senderId) ? ' mine' : ''}`, dataset: { item: item.id } },
        avatar(nameOf(item.senderId), item.senderId, 'small'),
        h('div', { class: 'message-body' }, item.showName && !isMe(item.senderId) ? h('span', { class: 'message-name', text: nameOf(item.senderId) }) : null, item.element,
          h('span', { class: 'message-time', text: formatTime(item.createdAt, language()) })));
      const previous = kept.get(item.id);
      kept.set(item.id, { ...item, row });
      if (previous) previous.row.replaceWith(row);
      else {
        const later = [...kept.values()].filter(other => other.id !== item.id && (other.createdAt > item.createdAt || (other.createdAt === item.createdAt && other.id > item.id)))
          .sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.id < b.id ? -1 : 1))[0];
        messages.querySelector('.empty')?.remove();
        if (later) messages.insertBefore(row, later.row);
        else messages.append(row);
      }
      if (stick) messages.scrollTop = messages.scrollHeight;
    },
    has: id => kept.has(id),
    empty(text) {
      if (!kept.size) replace(messages, emptyState(text));
    },
    alive: () => pane.isConnected && messages.isConnected,
  };
}

/** A timed packet still open is looked at again just after its countdown ends: it shows as refunded. */
function followDeadline(app, view, packet, redraw) {
  if (packet.status !== 'open' || packet.kind !== 'timed') return;
  const end = new Date(packet.expires_at).getTime();
  // The server refunds within a second of the end; a few looks just after it, not a polling loop.
  [600, 1800, 4000].forEach(delay => whenDue(end + delay, async () => {
    if (!view.alive()) return;
    try {
      const fresh = await fetchPacket(packet.id);
      redraw(fresh);
    } catch {
      // The next look, or the next event, shows it.
    }
  }));
}

/** A group chat: its red packets, newest at the bottom, and the button that sends one. */
export async function openGroupChat(app, pane, group) {
  const members = h('button', { class: 'icon-button', type: 'button', 'aria-label': t('Members'), dataset: { testid: 'members' }, onclick: () => showMembers(app, group) }, icon('users'));
  const tag = h('button', { class: 'icon-button', type: 'button', 'aria-label': t('Tag this group'), onclick: () => editTag(app, group.id, group.name) }, icon('tag'));
  const view = conversation(app, pane, {
    title: group.name, subtitle: tn(group.member_ids.length, '1 member', '{count} members'), testid: 'group-chat',
    avatarElement: h('span', { class: 'group-avatar', 'aria-hidden': 'true' }, icon('users', { size: 22 })),
    headExtra: [tag, members],
    composer: h('button', { class: 'btn packet-send', type: 'button', dataset: { testid: 'compose-packet' }, onclick: () => composePacket(app, { kind: 'group', group }) }, icon('packet', { size: 18 }), t('Red packet')),
  });
  const show = packet => {
    view.upsert({ id: packet.id, createdAt: packet.created_at, senderId: packet.sender_id, showName: true, element: packetBubble(app, packet) });
    followDeadline(app, view, packet, show);
  };
  const refetch = async id => {
    try {
      show(await fetchPacket(id));
    } catch (error) {
      if (error.status !== 404) showError(error);
    }
  };
  app.listen(event => {
    if (!view.alive()) return;
    if (event.type === 'local.packet') {
      if (event.packet.group_id === group.id) show(event.packet);
      return;
    }
    const subject = String(event.subject_id || '');
    if (!subject.startsWith('pkt_')) return;
    if (event.data?.group_id === group.id || view.has(subject)) refetch(subject);
  });
  replace(view.messages, loading());
  try {
    const answer = learn(await api('GET', `/v1/groups/${encode(group.id)}/packets?limit=50`));
    replace(view.messages);
    items(answer).forEach(show);
    view.empty(t('No red packets yet: send the first one.'));
    view.messages.scrollTop = view.messages.scrollHeight;
  } catch (error) {
    showError(error);
  }
}

/** The members of a group by name; its owner adds members by name. */
async function showMembers(app, group) {
  let fresh = group;
  try {
    fresh = learn(await api('GET', `/v1/groups/${encode(group.id)}`));
  } catch (error) {
    showError(error);
  }
  const owner = isMe(fresh.owner_id);
  const list = h('div', { class: 'list', dataset: { testid: 'member-list' } }, fresh.member_ids.map(id => h('div', { class: 'list-row' }, avatar(nameOf(id), id),
    h('span', { class: 'row-text' }, h('span', { class: 'row-title', text: who(id) }), id === fresh.owner_id ? h('span', { class: 'row-detail', text: t('Owner') }) : null),
    isMe(id) ? null : h('button', { class: 'btn small', type: 'button', text: t('Chat'), onclick: () => app.openPerson(id) }))));
  const picker = owner ? personPicker({ multiple: true, exclude: fresh.member_ids, label: t('Add members') }) : null;
  const add = owner ? h('button', { class: 'btn primary', type: 'button', text: t('Add'), onclick: async () => {
    try {
      for (const userId of picker.chosen()) await api('POST', `/v1/groups/${encode(group.id)}/members`, { user_id: userId });
      toast(t('Members added'), 'ok');
      showMembers(app, group);
    } catch (error) {
      showError(error);
    }
  } }) : null;
  openModal(t('Members of {name}', { name: fresh.name }), [list, owner ? [h('h3', { class: 'section-title', text: t('Add members') }), picker.element, h('div', { class: 'actions' }, add)] : null]);
}

/** A one-to-one chat: transfers and red packets between the user and someone else. */
export async function openPersonChat(app, pane, personId) {
  await lookUp(personId);
  const tag = h('button', { class: 'icon-button', type: 'button', 'aria-label': t('Tag this person'), onclick: () => editTag(app, personId, nameOf(personId)) }, icon('tag'));
  const view = conversation(app, pane, {
    title: nameOf(personId), testid: 'person-chat', avatarElement: avatar(nameOf(personId), personId), headExtra: [tag],
    composer: [
      h('button', { class: 'btn transfer-send', type: 'button', dataset: { testid: 'compose-transfer' }, onclick: () => composeTransfer(app, personId) }, icon('transfer', { size: 18 }), t('Transfer')),
      h('button', { class: 'btn packet-send', type: 'button', dataset: { testid: 'compose-packet' }, onclick: () => composePacket(app, { kind: 'person', id: personId }) }, icon('packet', { size: 18 }), t('Red packet')),
    ],
  });
  const between = item => [item.sender_id, item.recipient_id].includes(personId) && (isMe(item.sender_id) || isMe(item.recipient_id));
  const showTransfer = transfer => view.upsert({ id: transfer.id, createdAt: transfer.created_at, senderId: transfer.sender_id, element: transferBubble(app, transfer) });
  const showPacket = packet => {
    view.upsert({ id: packet.id, createdAt: packet.created_at, senderId: packet.sender_id, element: packetBubble(app, packet) });
    followDeadline(app, view, packet, showPacket);
  };
  app.listen(async event => {
    if (!view.alive()) return;
    if (event.type === 'local.transfer') {
      if (between(event.transfer)) showTransfer(event.transfer);
      return;
    }
    if (event.type === 'local.packet') {
      if (event.packet.recipient_id && between(event.packet)) showPacket(event.packet);
      return;
    }
    const subject = String(event.subject_id || '');
    const data = event.data || {};
    try {
      if (subject.startsWith('trf_') && (data.sender_id === personId || data.recipient_id === personId)) {
        showTransfer(learn(await api('GET', `/v1/transfers/${encode(subject)}`)));
      } else if (subject.startsWith('pkt_') && (view.has(subject) || (event.type === 'packet.received' && data.sender_id === personId))) {
        const packet = await fetchPacket(subject);
        if (packet.recipient_id && between(packet)) showPacket(packet);
      }
    } catch (error) {
      if (error.status !== 404) showError(error);
    }
  });
  replace(view.messages, loading());
  try {
    const answer = learn(await api('GET', `/v1/conversations/${encode(personId)}?limit=50`));
    replace(view.messages);
    for (const item of items(answer)) {
      if (item.kind === 'transfer') showTransfer(item.transfer);
      else showPacket(item.packet);
    }
    view.empty(t('Nothing here yet: send a transfer or a red packet.'));
    view.messages.scrollTop = view.messages.scrollHeight;
  } catch (error) {
    showError(error);
    replace(view.messages, emptyState(t('You cannot chat with this person.')));
  }
}
