// The frame around every page: top bar (navigation by role, connection,
// presence, the user) and the routed view below it. Views are created on
// first visit and kept, so drafts, open conversations and scroll positions
// survive moving between pages.

import { h, icon, replace } from '../dom.js';
import * as live from '../live.js';
import * as session from '../session.js';
import { initials, hue } from '../format.js';

/** Route name → the element that draws it, and who may see it. */
const ROUTES = {
  inbox: { tag: 'sb-inbox', label: 'Inbox', icon: 'inbox', role: 'agent' },
  supervisor: { tag: 'sb-supervisor', label: 'Supervisor', icon: 'chart', role: 'supervisor' },
  admin: { tag: 'sb-admin', label: 'Admin', icon: 'gear', role: 'admin' },
  macros: { tag: 'sb-my-macros', label: 'My macros', icon: 'bolt', role: 'agent' },
};

/** Splits `#/inbox/42` into `['inbox', '42']`. */
export function route() {
  const parts = location.hash.replace(/^#\/?/, '').split('/').filter(Boolean);
  return parts.length ? parts : ['inbox'];
}

/** `<sb-shell>`: the logged-in app. */
export class Shell extends HTMLElement {
  connectedCallback() {
    this.views = new Map();
    this.nav = h('nav', { class: 'topnav', 'aria-label': 'Main' });
    this.conn = h('span', { class: 'conn', role: 'status', 'aria-live': 'polite' });
    this.presence = h('select', { class: 'presence-select', 'aria-label': 'Your status', name: 'presence' },
      h('option', { value: 'online' }, 'Online'),
      h('option', { value: 'away' }, 'Away'),
      h('option', { value: 'offline' }, 'Offline'));
    this.presence.addEventListener('change', () => this.changePresence());
    this.dot = h('span', { class: 'status-dot', 'aria-hidden': 'true' });
    this.user = h('div', { class: 'usermenu' });
    this.main = h('main', { class: 'view', id: 'view', tabindex: '-1' });
    this.replaceChildren(
      h('a', { class: 'skip-link', href: '#view', onClick: (e) => { e.preventDefault(); this.main.focus(); } }, 'Skip to content'),
      h('header', { class: 'topbar' },
        h('a', { class: 'brand', href: '#/inbox' }, h('span', { class: 'brand-mark', 'aria-hidden': 'true' }, 'S'), h('span', { class: 'brand-name' }, 'Switchboard')),
        this.nav,
        h('div', { class: 'topbar-end' },
          this.conn,
          h('label', { class: 'presence' }, this.dot, this.presence),
          this.user)),
      this.main);
    this.offs = [
      live.bus.on('me', () => this.drawMe()),
      live.bus.on('connection', (s) => this.drawConnection(s)),
    ];
    this.onHash = () => this.show();
    window.addEventListener('hashchange', this.onHash);
    this.drawMe();
    this.drawConnection(live.state.connection);
    this.show();
  }

  disconnectedCallback() {
    this.offs?.forEach((off) => off());
    window.removeEventListener('hashchange', this.onHash);
  }

  async changePresence() {
    const status = this.presence.value;
    try {
      await live.setPresence(status);
      live.toast({ kind: 'info', title: `You are ${status}` });
    } catch (e) {
      live.toast({ kind: 'danger', title: 'Could not change your status', body: e.message });
      this.drawMe();
    }
  }

  drawMe() {
    const me = live.state.me;
    if (!me) return;
    this.presence.value = me.status;
    this.dot.dataset.status = me.status;
    replace(this.nav, Object.entries(ROUTES)
      .filter(([, r]) => live.atLeast(r.role))
      .map(([name, r]) => h('a', {
        href: `#/${name}`, class: 'topnav-link', dataset: { route: name },
        'aria-current': route()[0] === name ? 'page' : null,
      }, icon(r.icon), h('span', {}, r.label))));
    replace(this.user,
      h('span', { class: 'avatar avatar-small', style: { '--hue': hue(me.name) }, 'aria-hidden': 'true' }, initials(me.name)),
      h('span', { class: 'usermenu-name' }, h('strong', {}, me.name), h('small', {}, me.role)),
      h('button', {
        class: 'icon-btn', 'aria-label': 'Log out', title: 'Log out',
        onClick: () => session.logout(),
      }, icon('logout')));
  }

  drawConnection(s) {
    this.conn.dataset.state = s;
    this.conn.textContent = s === 'open' ? '' : s === 'connecting' ? 'Reconnecting…' : 'Offline';
    this.conn.hidden = s === 'open';
  }

  show() {
    const [name] = route();
    const r = ROUTES[name] && live.atLeast(ROUTES[name].role) ? name : 'inbox';
    for (const a of this.nav.querySelectorAll('a')) {
      if (a.dataset.route === r) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    let view = this.views.get(r);
    if (!view) {
      view = document.createElement(ROUTES[r].tag);
      this.views.set(r, view);
      this.main.append(view);
    }
    for (const [k, v] of this.views) v.hidden = k !== r;
    view.route?.(route().slice(1));
    document.title = `${ROUTES[r].label} · Switchboard`;
  }
}

customElements.define('sb-shell', Shell);
