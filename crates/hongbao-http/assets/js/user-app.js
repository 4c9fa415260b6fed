// A user's app: the header with the balance and the notification bell, the four tabs (chats,
// contacts, wallet, me), and the live event stream that keeps every open view current. On a phone one
// pane shows at a time; on a desktop the list and the open conversation sit side by side.

import { api, items } from './api.js';
import { $, h, replace } from './dom.js';
import { icon } from './icons.js';
import { language, setLanguage, t } from './i18n.js';
import { resetPeople } from './people.js';
import { openStream } from './sse.js';
import { avatar, money } from './ui.js';
import { renderChatList, openGroupChat, openPersonChat } from './chats.js';
import { renderContacts } from './contacts.js';
import { renderWallet } from './wallet.js';
import { renderMe } from './me.js';
import { Notifications } from './notifications.js';
import { startCountdowns } from './packets.js';

const TABS = [
  ['chats', 'chat', 'Chats'],
  ['contacts', 'contacts', 'Contacts'],
  ['wallet', 'wallet', 'Wallet'],
  ['me', 'me', 'Me'],
];

/**
 * Starts the app for a signed-in user on `initialTab`. `session.stops` collects what must end at
 * sign-out or when the app is drawn again (in another language).
 */
export function startUser(me, session, initialTab = 'chats') {
  resetPeople(me);
  const app = {
    me,
    wallet: null,
    currency: 'CNY',
    tab: initialTab,
    /** What the main pane shows: { kind: 'group', group } or { kind: 'person', id }, or null. */
    open: null,
    viewListeners: new Set(),
    session,
  };

  // ---- layout ----
  const balance = h('button', { class: 'balance-chip', type: 'button', 'aria-label': t('Available balance'), dataset: { testid: 'balance' }, onclick: () => showTab('wallet') }, '…');
  const bellBadge = h('span', { class: 'count-badge', hidden: true, dataset: { testid: 'bell-badge' } });
  const bell = h('button', { class: 'icon-button bell', type: 'button', 'aria-label': t('Notifications'), 'aria-expanded': 'false', dataset: { testid: 'bell' } }, icon('bell'), bellBadge);
  const live = h('span', { class: 'live-dot', title: t('Connecting…') });
  const languageButton = h('button', { class: 'language-button', type: 'button', 'aria-label': t('Language'), text: language() === 'zh' ? 'EN' : '中文',
    onclick: () => setLanguage(language() === 'zh' ? 'en' : 'zh') });
  const tabs = h('nav', { class: 'tabs', 'aria-label': t('Sections') }, TABS.map(([id, iconName, label]) =>
    h('button', { type: 'button', class: 'tab', id: `tab-${id}`, 'aria-current': id === app.tab ? 'page' : null, dataset: { testid: `tab-${id}` }, onclick: () => showTab(id) },
      icon(iconName, { size: 22 }), h('span', { text: t(label) }))));
  const listPane = h('section', { class: 'list-pane', id: 'list-pane' });
  const mainPane = h('main', { class: 'main-pane', id: 'main-pane' });
  const shell = h('div', { class: 'user-app' },
    h('header', { class: 'topbar' },
      h('button', { class: 'me-chip', type: 'button', onclick: () => showTab('me'), 'aria-label': t('Me') }, avatar(me.name, me.id, 'small'),
        h('span', { class: 'me-name', text: me.name, dataset: { testid: 'my-name' } }), live),
      h('span', { class: 'grow' }), balance, languageButton, bell),
    tabs, listPane, mainPane);
  replace($('#root'), shell);

  // ---- wallet ----
  let walletTimer = 0;
  app.refreshWallet = async () => {
    try {
      app.wallet = await api('GET', '/v1/wallet');
      app.currency = app.wallet.currency;
      balance.textContent = money(app.wallet.available, app.currency);
      balance.classList.toggle('frozen', app.wallet.frozen > 0);
      for (const listener of app.viewListeners) listener({ type: 'wallet.changed' });
    } catch {
      // The balance is shown again on the next event; a failure here says nothing new.
    }
  };
  app.refreshWalletSoon = () => {
    clearTimeout(walletTimer);
    walletTimer = setTimeout(app.refreshWallet, 250);
  };

  // ---- views ----
  /** Listens to live events while the current view is shown. */
  app.listen = listener => {
    app.viewListeners.add(listener);
    return () => app.viewListeners.delete(listener);
  };
  const clearViewListeners = () => app.viewListeners.clear();

  function showTab(id) {
    app.tab = id;
    app.open = null;
    clearViewListeners();
    tabs.querySelectorAll('.tab').forEach(button => button.toggleAttribute('aria-current', button.id === `tab-${id}`));
    shell.classList.toggle('single', id === 'wallet' || id === 'me');
    shell.classList.remove('has-detail');
    replace(listPane);
    replace(mainPane);
    if (id === 'chats') {
      renderChatList(app, listPane);
      replace(mainPane, h('div', { class: 'placeholder' }, icon('chat', { size: 48 }), h('p', { text: t('Choose a chat') })));
    } else if (id === 'contacts') {
      renderContacts(app, listPane, mainPane);
      replace(mainPane, h('div', { class: 'placeholder' }, icon('contacts', { size: 48 }), h('p', { text: t('Choose someone') })));
    } else if (id === 'wallet') renderWallet(app, mainPane);
    else renderMe(app, mainPane);
  }
  app.showTab = showTab;

  /** Opens a conversation in the main pane (over the list, on a phone). */
  app.openConversation = target => {
    if (app.tab !== 'chats') showTab('chats');
    // The chat shown before listens no more.
    clearViewListeners();
    app.open = target;
    shell.classList.add('has-detail');
    for (const row of listPane.querySelectorAll('[data-chat]')) row.toggleAttribute('aria-current', row.dataset.chat === (target.kind === 'group' ? target.group.id : target.id));
    if (target.kind === 'group') openGroupChat(app, mainPane, target.group);
    else openPersonChat(app, mainPane, target.id);
  };
  app.openGroup = group => app.openConversation({ kind: 'group', group });
  app.openPerson = id => app.openConversation({ kind: 'person', id });
  app.closeConversation = () => {
    app.open = null;
    shell.classList.remove('has-detail');
    replace(mainPane, h('div', { class: 'placeholder' }, icon('chat', { size: 48 }), h('p', { text: t('Choose a chat') })));
    renderChatList(app, listPane);
  };

  // ---- notifications and the live stream ----
  const notifications = new Notifications(app, bell, bellBadge);
  app.notifications = notifications;
  const setLive = on => {
    live.classList.toggle('on', on);
    live.title = on ? t('Live') : t('Reconnecting…');
    live.setAttribute('aria-label', live.title);
  };
  (async () => {
    let after = null;
    try {
      const recent = items(await api('GET', '/v1/events?limit=50'));
      notifications.load(recent);
      after = recent[0]?.id || null;
    } catch {
      after = null;
    }
    const stream = openStream({
      after,
      onState: setLive,
      onEvent: event => {
        notifications.add(event);
        app.refreshWalletSoon();
        for (const listener of [...app.viewListeners]) listener(event);
        app.chatList?.onEvent(event);
      },
    });
    session.stops.push(() => stream.stop());
  })();
  // The event stream tells of every change; the balance is also refreshed when the page is shown again.
  const onVisible = () => {
    if (!document.hidden) app.refreshWallet();
  };
  document.addEventListener('visibilitychange', onVisible);
  session.stops.push(() => document.removeEventListener('visibilitychange', onVisible));
  session.stops.push(startCountdowns());

  /** Tells the open views of a change this page made itself (a claim, an accepted transfer). */
  app.changed = change => {
    for (const listener of [...app.viewListeners]) listener(change);
    app.chatList?.onEvent(change);
    app.refreshWalletSoon();
  };

  app.refreshWallet();
  showTab(initialTab);
  return app;
}
