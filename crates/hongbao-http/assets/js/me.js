// Me: the user's display name (which they may change), their id to share with new contacts, the
// language of the page, and signing out.

import { api } from './api.js';
import { h, replace } from './dom.js';
import { icon } from './icons.js';
import { language, setLanguage, t } from './i18n.js';
import { remember } from './people.js';
import { avatar, copyText, makeForm, toast } from './ui.js';

export function renderMe(app, pane) {
  const idInput = h('input', { class: 'id-text', readOnly: true, value: app.me.id, 'aria-label': t('Your user id'), dataset: { testid: 'my-id' } });
  const nameForm = makeForm([{ name: 'name', label: t('Display name'), required: true, max: 64, value: app.me.name, hint: t('Your groups and the people you pay see this name.'), testid: 'name-input' }],
    t('Save the name'), async values => {
      const user = await api('PATCH', '/v1/me', { name: values.name });
      app.me.name = user.name;
      remember(user.id, user.name);
      toast(t('Your name is now {name}', { name: user.name }), 'ok');
      document.querySelector('[data-testid="my-name"]').textContent = user.name;
      document.querySelector('.me-chip .avatar')?.replaceWith(avatar(user.name, user.id, 'small'));
      renderMe(app, pane);
    }, null, { testid: 'name-form' });
  const languages = h('div', { class: 'segmented', role: 'group', 'aria-label': t('Language') }, [['zh', '中文'], ['en', 'English']].map(([value, label]) =>
    h('button', { type: 'button', 'aria-pressed': String(language() === value), text: label, lang: value === 'zh' ? 'zh-CN' : 'en', onclick: () => setLanguage(value) })));
  replace(pane, h('div', { class: 'page' },
    h('section', { class: 'card profile' }, avatar(app.me.name, app.me.id, 'large'), h('h2', { text: app.me.name }),
      h('div', { class: 'id-row' }, idInput, h('button', { class: 'icon-button', type: 'button', 'aria-label': t('Copy your id'), onclick: () => copyText(app.me.id, t('Your id is copied: share it to be added to a group.'), idInput) }, icon('copy'))),
      h('p', { class: 'small muted', text: t('Share your id once with someone new; after that they find you by name.') })),
    h('section', { class: 'card' }, nameForm),
    h('section', { class: 'card' }, h('h3', { text: t('Language') }), languages),
    h('section', { class: 'card' }, h('button', { class: 'btn danger wide', type: 'button', dataset: { testid: 'sign-out' }, onclick: () => app.session.signOut() }, icon('signOut', { size: 18 }), t('Sign out')))));
}
