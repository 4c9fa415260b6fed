// The notification list behind the bell: every event in plain words, newest first, security alerts
// marked; the bell's badge counts what the user has not seen. Nothing is drawn over the content.

import { h, replace } from './dom.js';
import { eventIdAfter } from './format.js';
import { icon } from './icons.js';
import { t } from './i18n.js';
import { describeEvent } from './notices.js';
import { isKnown, lookUp, nameOf } from './people.js';
import { emptyState, when } from './ui.js';
import { openPacket } from './packets.js';
import { showTransfer } from './transfers.js';

const MAX_KEPT = 100;

export class Notifications {
  constructor(app, bell, badge) {
    this.app = app;
    this.bell = bell;
    this.badge = badge;
    this.events = [];
    this.seenKey = `hongbao.seen.${app.me.id}`;
    this.panel = h('aside', { class: 'notifications', hidden: true, 'aria-label': t('Notifications'), dataset: { testid: 'notifications' } });
    document.querySelector('.user-app').append(this.panel);
    bell.addEventListener('click', () => this.toggle());
    document.addEventListener('keydown', event => {
      if (event.key === 'Escape' && !this.panel.hidden) this.toggle(false);
    });
  }

  get seen() {
    return localStorage.getItem(this.seenKey) || '';
  }

  /** The events of the list at start (newest first). */
  load(events) {
    events.forEach(event => this.keep(event));
    this.update();
  }

  /** A live event. Names the page does not know yet are asked for, and the list drawn again. */
  add(event) {
    this.keep(event);
    this.update();
    const data = event.data || {};
    const unknown = [data.sender_id, data.recipient_id, data.luckiest_user_id].filter(id => id && !isKnown(id));
    if (unknown.length) Promise.all(unknown.map(lookUp)).then(() => this.update());
  }

  keep(event) {
    if (!event || event.id == null || this.events.some(known => known.id === String(event.id))) return;
    event.id = String(event.id);
    this.events.push(event);
    this.events.sort((left, right) => (left.id === right.id ? 0 : eventIdAfter(left.id, right.id) ? -1 : 1));
    this.events.length = Math.min(this.events.length, MAX_KEPT);
  }

  update() {
    const seen = this.seen;
    const unseen = this.events.filter(event => eventIdAfter(event.id, seen) && event.id !== seen);
    const alerts = unseen.filter(event => describe(this.app, event).alert).length;
    this.badge.hidden = unseen.length === 0;
    this.badge.textContent = unseen.length > 9 ? '9+' : String(unseen.length);
    this.badge.classList.toggle('alert', alerts > 0);
    this.bell.setAttribute('aria-label', unseen.length ? t('Notifications: {count} new', { count: unseen.length }) : t('Notifications'));
    if (!this.panel.hidden) this.draw();
  }

  toggle(open = this.panel.hidden) {
    this.panel.hidden = !open;
    this.bell.setAttribute('aria-expanded', String(open));
    if (open) {
      this.draw();
      if (this.events[0]) localStorage.setItem(this.seenKey, this.events[0].id);
      this.update();
    }
  }

  draw() {
    const seen = this.seen;
    replace(this.panel,
      h('div', { class: 'notifications-head' }, h('h2', { text: t('Notifications') }),
        h('button', { class: 'icon-button', type: 'button', 'aria-label': t('Close'), onclick: () => this.toggle(false) }, icon('close'))),
      this.events.length ? h('ul', { class: 'notification-list' }, this.events.map(event => {
        const words = describe(this.app, event);
        const fresh = eventIdAfter(event.id, seen) && event.id !== seen;
        return h('li', {}, h('button', { class: `notification tone-${words.tone || 'plain'}${fresh ? ' fresh' : ''}`, type: 'button', dataset: { testid: 'notification', type: event.type },
          onclick: () => this.openSubject(event) },
        h('span', { class: 'notification-icon' }, icon(words.icon)),
        h('span', { class: 'row-text' }, h('span', { class: 'row-title', text: words.title }), h('span', { class: 'notification-text', text: words.text }),
          h('span', { class: 'row-detail', text: when(event.created_at) }))));
      })) : emptyState(t('Nothing yet.')));
  }

  /** Opens what an event is about. */
  openSubject(event) {
    const subject = String(event.subject_id || '');
    this.toggle(false);
    if (subject.startsWith('pkt_')) openPacket(this.app, subject);
    else if (subject.startsWith('trf_')) showTransfer(this.app, subject);
    else if (subject.startsWith('rrq_') || subject.startsWith('cmp_') || subject.startsWith('frz_')) this.app.showTab('wallet');
  }
}

function describe(app, event) {
  return describeEvent(event, { me: app.me.id, nameOf, currency: app.currency });
}
