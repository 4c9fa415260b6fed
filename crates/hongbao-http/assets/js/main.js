// The page's entry: signing in with a token, then the app the token is for: a user's wallet and
// chats, an operator's console, or the admin's page. Switching the language draws it again.

import { api, forgetToken, items, saveToken, token } from './api.js';
import { $, h, replace } from './dom.js';
import { icon } from './icons.js';
import { initLanguage, language, onLanguageChange, setLanguage, t } from './i18n.js';
import { closeModal, errorText, setUpModal } from './ui.js';
import { startUser } from './user-app.js';
import { startConsole } from './console.js';
import { startAdmin } from './admin.js';
import { loadTags } from './tags.js';

/** What the signed-in app started and must stop at sign-out or before it is drawn again. */
const session = {
  stops: [],
  signOut,
  /** Draws the current app again (after a language switch), keeping the user's place where it can. */
  redraw: null,
};

function stopAll() {
  for (const stop of session.stops.splice(0)) stop();
}

function signOut() {
  stopAll();
  closeModal();
  forgetToken();
  renderSignIn();
}

function languageSwitch(className = '') {
  return h('button', { class: `language-button ${className}`.trim(), type: 'button', text: language() === 'zh' ? 'English' : '中文', onclick: () => setLanguage(language() === 'zh' ? 'en' : 'zh') });
}

function renderSignIn(message) {
  session.redraw = () => renderSignIn(message);
  const input = h('input', { type: 'password', id: 'token', autocomplete: 'off', spellcheck: 'false', placeholder: 'hbt_…', required: true, dataset: { testid: 'token' } });
  const form = h('form', { class: 'form' },
    h('label', { class: 'field', for: 'token' }, h('span', { class: 'field-label', text: t('Your token') }), input,
      h('small', { class: 'hint', text: t('Users get their wallet and chats, operators the console, the admin token the admin page. The token stays in this browser until you sign out.') })),
    message ? h('p', { class: 'negative small', role: 'alert', text: message }) : null,
    h('button', { type: 'submit', class: 'btn primary wide', text: t('Sign in'), dataset: { testid: 'sign-in' } }));
  form.addEventListener('submit', event => {
    event.preventDefault();
    const value = input.value.trim();
    if (!value) return;
    saveToken(value);
    boot();
  });
  replace($('#root'), h('div', { class: 'sign-in' }, h('div', { class: 'sign-in-card' },
    h('div', { class: 'sign-in-top' }, languageSwitch('on-light')),
    h('div', { class: 'brand-mark' }, icon('packet', { size: 56 })), h('h1', { class: 'brand', text: t('hongbao red packets') }), form)));
  input.focus();
}

async function boot() {
  if (!token()) return renderSignIn();
  replace($('#root'), h('div', { class: 'sign-in' }, h('div', { class: 'brand-mark loading-mark', 'aria-busy': 'true' }, icon('packet', { size: 56 }))));
  let caller;
  try {
    caller = await api('GET', '/v1/whoami');
  } catch (error) {
    if (error.status === 401) forgetToken();
    return renderSignIn(error.status === 401 ? t('This token is not recognised.') : errorText(error));
  }
  stopAll();
  if (caller.kind === 'user') {
    await loadTags();
    let app = startUser(caller.user, session);
    session.redraw = () => {
      stopAll();
      app = startUser(app.me, session, app.tab);
    };
  } else if (caller.kind === 'operator') {
    let state = startConsole(caller.operator, session);
    session.redraw = () => {
      stopAll();
      state = startConsole(caller.operator, session, state.view);
    };
  } else {
    const operators = await api('GET', '/v1/ops/operators?limit=200').then(items).catch(() => []);
    startAdmin(operators, session);
    session.redraw = () => {
      stopAll();
      boot();
    };
  }
}

initLanguage();
setUpModal();
onLanguageChange(() => {
  closeModal();
  setUpModal();
  session.redraw?.();
});
boot();
