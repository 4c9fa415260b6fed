// Tags (标签): how the user knows a contact or a group (family, friends, work, strangers, or their
// own word). They are private to the user; the risk policy may limit payments per tag.

import { api, encode, items } from './api.js';
import { h } from './dom.js';
import { t } from './i18n.js';
import { closeModal, makeForm, openModal, showError, toast } from './ui.js';

const BUILT_IN = [['family', 'Family'], ['friends', 'Friends'], ['work', 'Work'], ['strangers', 'Strangers']];
const tags = new Map();

export function tagText(tag) {
  const builtIn = BUILT_IN.find(([value]) => value === tag);
  return builtIn ? t(builtIn[1]) : tag;
}

/** Loads the user's tags once per sign-in. */
export async function loadTags() {
  try {
    tags.clear();
    for (const tag of items(await api('GET', '/v1/tags'))) tags.set(tag.target_id, tag.tag);
  } catch {
    // Tags only decorate names; without them the page still works.
  }
  return tags;
}

/** The user's tag on someone or a group, as a badge; nothing when there is none. */
export function tagBadge(targetId) {
  return tags.has(targetId) ? h('span', { class: 'badge badge-tag', text: tagText(tags.get(targetId)) }) : null;
}

/** Sets, changes or removes the tag on a person or a group. */
export function editTag(app, targetId, name) {
  const current = tags.get(targetId) || '';
  const custom = current && !BUILT_IN.some(([value]) => value === current);
  const form = makeForm([
    { name: 'tag', label: t('Tag'), type: 'select', required: true, value: custom ? 'custom' : current || 'family', options: [...BUILT_IN.map(([value, label]) => [value, t(label)]), ['custom', t('Your own…')]] },
    { name: 'custom', label: t('Your own tag'), max: 32, value: custom ? current : '', hint: t('1 to 32 lowercase letters, digits, - and _.') },
  ], t('Save'), async values => {
    const tag = values.tag === 'custom' ? String(values.custom || '').toLowerCase() : values.tag;
    if (!/^[a-z0-9_-]{1,32}$/.test(tag)) throw new Error(t('A tag is 1 to 32 lowercase letters, digits, - and _.'));
    const saved = await api('PUT', `/v1/tags/${encode(targetId)}`, { tag });
    tags.set(saved.target_id, saved.tag);
    toast(t('Tagged {name} as {tag}', { name, tag: tagText(saved.tag) }), 'ok');
    closeModal();
  });
  const customRow = form.elements.custom.closest('.field');
  const sync = () => (customRow.hidden = form.elements.tag.value !== 'custom');
  form.elements.tag.addEventListener('change', sync);
  sync();
  const remove = current ? h('button', { class: 'btn danger', type: 'button', text: t('Remove the tag'), onclick: async () => {
    try {
      await api('DELETE', `/v1/tags/${encode(targetId)}`);
      tags.delete(targetId);
      toast(t('Tag removed'), 'ok');
      closeModal();
    } catch (error) {
      showError(error);
    }
  } }) : null;
  openModal(t('Tag {name}', { name }), [h('p', { class: 'small muted', text: t('Tags are yours alone. The risk policy may limit payments per tag, for example to strangers.') }), form, remove ? h('div', { class: 'actions' }, remove) : null]);
}
