// People by name: a directory of the names the page has learned (from contacts, groups, packets,
// transfers), a person's avatar and label, and a picker that chooses people by name instead of ids.

import { api, encode, items } from './api.js';
import { h, replace } from './dom.js';
import { shortId } from './format.js';
import { icon } from './icons.js';
import { t } from './i18n.js';
import { avatar, emptyState } from './ui.js';

const names = new Map();
let contacts = null;
let myId = null;

/** Starts afresh for a signed-in user. */
export function resetPeople(me) {
  names.clear();
  contacts = null;
  myId = me.id;
  names.set(me.id, me.name);
}

export function remember(id, name) {
  if (id && name) names.set(id, name);
}

/** A person's name, or a short id for someone whose name the page does not know. */
export function nameOf(id) {
  return names.get(id) || shortId(id);
}

/** Whether the page knows this person's name. */
export function isKnown(id) {
  return names.has(id);
}

/** "You" for the signed-in user, else the name. */
export function who(id) {
  return id === myId ? t('You') : nameOf(id);
}

export function isMe(id) {
  return id === myId;
}

/** Learns the names an answer carries (`names` of packets, transfers, groups, return requests; a conversation's `user`). */
export function learn(answer) {
  if (!answer || typeof answer !== 'object') return answer;
  if (Array.isArray(answer)) {
    answer.forEach(learn);
    return answer;
  }
  for (const [id, name] of Object.entries(answer.names || {})) remember(id, name);
  if (answer.user && answer.user.id) remember(answer.user.id, answer.user.name);
  if (Array.isArray(answer.data)) answer.data.forEach(item => learn(item.transfer || item.packet || item));
  return answer;
}

/** Asks the server for the name of someone the page may see; the id stays when it may not. */
export async function lookUp(id) {
  if (names.has(id)) return names.get(id);
  try {
    const person = await api('GET', `/v1/users/${encode(id)}`);
    remember(person.id, person.name);
    return person.name;
  } catch {
    return shortId(id);
  }
}

/** The user's contacts (loaded once per sign-in unless `fresh`), by name. */
export async function loadContacts(fresh = false) {
  if (contacts && !fresh) return contacts;
  const all = [];
  let cursor = null;
  do {
    const answer = await api('GET', `/v1/contacts?limit=200${cursor ? `&cursor=${encode(cursor)}` : ''}`);
    all.push(...items(answer));
    cursor = answer.next_cursor;
  } while (cursor && all.length < 2000);
  all.forEach(contact => remember(contact.id, contact.name));
  contacts = all;
  return contacts;
}

/** A row with a person's avatar, name and an optional line under it. */
export function personRow(id, detail, trailing) {
  return [avatar(nameOf(id), id), h('span', { class: 'row-text' }, h('span', { class: 'row-title', text: who(id) }), detail ? h('span', { class: 'row-detail', text: detail }) : null), trailing];
}

/**
 * Choosing people by name: a filter box over the contacts, and a way to enter an id for someone who
 * is not a contact yet. `multiple` gives checkboxes; `only` limits the choice to these ids (a
 * group's members). Returns `{ element, chosen() }`.
 */
export function personPicker({ multiple = false, only = null, exclude = [], label = t('People') } = {}) {
  const chosen = new Set();
  const filter = h('input', { type: 'search', class: 'picker-filter', placeholder: t('Search by name'), 'aria-label': t('Search by name'), dataset: { testid: 'picker-filter' } });
  const list = h('div', { class: 'picker-list', role: multiple ? 'group' : 'radiogroup', 'aria-label': label });
  const typed = h('input', { type: 'text', class: 'picker-id', placeholder: 'usr_…', 'aria-label': t('Or enter a user id'), autocomplete: 'off', dataset: { testid: 'picker-id' } });
  let people = [];
  const draw = () => {
    const query = filter.value.trim().toLowerCase();
    const shown = people.filter(person => !query || person.name.toLowerCase().includes(query) || person.id.startsWith(query));
    replace(list, shown.length ? shown.map(person => {
      const input = h('input', { type: multiple ? 'checkbox' : 'radio', name: 'picker', value: person.id, checked: chosen.has(person.id) });
      input.addEventListener('change', () => {
        if (!multiple) chosen.clear();
        if (input.checked) chosen.add(person.id);
        else chosen.delete(person.id);
      });
      return h('label', { class: 'picker-row', dataset: { testid: `person-${person.name}` } }, input, avatar(person.name, person.id, 'small'), h('span', { class: 'grow', text: person.name }));
    }) : emptyState(only ? t('Nobody else here.') : t('No contacts yet: enter an id below.')));
  };
  filter.addEventListener('input', draw);
  const element = h('div', { class: 'picker' }, h('div', { class: 'picker-search' }, icon('search', { size: 16 }), filter), list,
    only ? null : h('details', { class: 'picker-more' }, h('summary', { text: t('Someone new? Enter their user id') }), typed));
  (async () => {
    if (only) people = only.filter(id => !exclude.includes(id)).map(id => ({ id, name: nameOf(id) }));
    else people = (await loadContacts().catch(() => [])).filter(contact => !exclude.includes(contact.id));
    draw();
  })();
  return {
    element,
    chosen: () => {
      const ids = [...chosen];
      const entered = typed.value.split(/[\s,]+/).filter(Boolean);
      return multiple ? [...new Set([...ids, ...entered])] : entered[0] || ids[0] || null;
    },
  };
}
