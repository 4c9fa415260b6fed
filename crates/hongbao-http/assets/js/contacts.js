// Contacts: everyone the user shares a group with or has dealt with, by name, with a filter; a person's
// card offers the chat, a transfer and a red packet, so that nobody pastes an id to pay a friend.

import { h, replace } from './dom.js';
import { icon } from './icons.js';
import { t } from './i18n.js';
import { loadContacts } from './people.js';
import { composePacket } from './packets.js';
import { composeTransfer } from './transfers.js';
import { avatar, copyText, emptyState, loading, showError } from './ui.js';
import { editTag, tagBadge } from './tags.js';

export function renderContacts(app, listPane, mainPane) {
  const filter = h('input', { type: 'search', placeholder: t('Search by name'), 'aria-label': t('Search by name'), dataset: { testid: 'contact-filter' } });
  const list = h('div', { class: 'list', dataset: { testid: 'contact-list' } }, loading());
  replace(listPane, h('div', { class: 'pane-head' }, h('h2', { text: t('Contacts') })), h('div', { class: 'search-box' }, icon('search', { size: 16 }), filter), list);
  let contacts = [];
  const draw = () => {
    const query = filter.value.trim().toLowerCase();
    const shown = contacts.filter(contact => !query || contact.name.toLowerCase().includes(query));
    replace(list, shown.length ? shown.map(contact => h('button', { class: 'list-row', type: 'button', dataset: { testid: `contact-${contact.name}` }, onclick: () => {
      list.querySelectorAll('.list-row').forEach(row => row.removeAttribute('aria-current'));
      listPane.parentElement.classList.add('has-detail');
      showPerson(app, mainPane, contact, () => {
        listPane.parentElement.classList.remove('has-detail');
      });
    } }, avatar(contact.name, contact.id), h('span', { class: 'row-text' }, h('span', { class: 'row-title' }, contact.name, ' ', tagBadge(contact.id)),
      h('span', { class: 'row-detail', text: relation(contact) })))) : emptyState(contacts.length ? t('Nobody by that name.') : t('No contacts yet. People you share a group with or have paid appear here.')));
  };
  filter.addEventListener('input', draw);
  loadContacts(true).then(found => {
    contacts = found;
    draw();
  }).catch(showError);
}

function relation(contact) {
  if (contact.shares_group && contact.dealt_with) return t('In a group with you · you have paid each other');
  return contact.shares_group ? t('In a group with you') : t('You have paid each other');
}

/** A person's card with what the user can do with them. */
function showPerson(app, pane, contact, onBack) {
  const idInput = h('input', { class: 'id-text', readOnly: true, value: contact.id, 'aria-label': t('User id') });
  replace(pane, h('div', { class: 'person-card' },
    h('button', { class: 'icon-button back', type: 'button', 'aria-label': t('Back'), onclick: () => {
      onBack();
      replace(pane);
    } }, icon('back')),
    avatar(contact.name, contact.id, 'large'), h('h2', { text: contact.name }), h('p', { class: 'muted', text: relation(contact) }), tagBadge(contact.id),
    h('div', { class: 'person-actions' },
      h('button', { class: 'btn primary', type: 'button', dataset: { testid: 'person-chat' }, onclick: () => app.openPerson(contact.id) }, icon('chat', { size: 18 }), t('Chat')),
      h('button', { class: 'btn transfer-send', type: 'button', onclick: () => composeTransfer(app, contact.id) }, icon('transfer', { size: 18 }), t('Transfer')),
      h('button', { class: 'btn packet-send', type: 'button', onclick: () => composePacket(app, { kind: 'person', id: contact.id }) }, icon('packet', { size: 18 }), t('Red packet')),
      h('button', { class: 'btn', type: 'button', onclick: () => editTag(app, contact.id, contact.name) }, icon('tag', { size: 18 }), t('Tag'))),
    h('div', { class: 'id-row' }, idInput, h('button', { class: 'icon-button', type: 'button', 'aria-label': t('Copy the id'), onclick: () => copyText(contact.id, t('Copied'), idInput) }, icon('copy')))));
}
