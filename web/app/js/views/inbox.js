// The inbox: the conversation list (tabs Mine / Queue / All, filters, live
// updates) on the left, and the open conversations as tabs on the right.

import { h, icon, replace, debounce } from '../dom.js';
import * as api from '../api.js';
import * as live from '../live.js';
import { ago, initials, hue, visitorName } from '../format.js';
import './conversation.js';

/** Most conversations open side by side as tabs. */
const MAX_OPEN = 6;

const STATES = [['', 'Any status'], ['queued', 'Waiting'], ['assigned', 'Assigned'], ['closed', 'Closed'], ['bot', 'Bot']];

/** `<sb-inbox>` */
export class Inbox extends HTMLElement {
  connectedCallback() {
    if (this.built) return;
    this.built = true;
    this.className = 'inbox';
    this.tab = 'mine';
    this.filters = { state: 'assigned', team_id: '', tag: '', unread: false, q: '' };
    /** Ids the last fetch returned, and those learnt live since. */
    this.ids = new Set();
    this.added = new Set();
    this.nextCursor = null;
    /** @type {number[]} */
    this.open = [];
    this.active = null;
    /** @type {Map<number, HTMLElement>} */
    this.views = new Map();

    this.tabs = h('div', { class: 'tabs', role: 'tablist', 'aria-label': 'Conversation lists' });
    this.search = h('input', { type: 'search', class: 'search-input', placeholder: 'Search name, e-mail or #id', 'aria-label': 'Search conversations' });
    this.stateSel = h('select', { 'aria-label': 'Status filter' }, STATES.map(([v, l]) => h('option', { value: v }, l)));
    this.teamSel = h('select', { 'aria-label': 'Team filter' });
    this.tagSel = h('select', { 'aria-label': 'Tag filter' });
    this.unread = h('input', { type: 'checkbox' });
    this.list = h('ul', { class: 'conv-list', 'aria-label': 'Conversations' });
    this.more = h('button', { class: 'btn btn-ghost btn-block', hidden: true, onClick: () => this.fetch(true) }, 'Load more');
    this.empty = h('p', { class: 'empty', hidden: true });
    this.workspace = h('section', { class: 'workspace', 'aria-label': 'Open conversations' });
    this.openTabs = h('div', { class: 'open-tabs', role: 'tablist', 'aria-label': 'Open conversations' });
    this.placeholder = h('div', { class: 'workspace-empty' },
      icon('inbox', 48), h('h2', {}, 'No conversation open'), h('p', {}, 'Pick one from the list, or wait for the next customer.'));

    this.search.addEventListener('input', debounce(() => this.setFilter('q', this.search.value.trim()), 300));
    this.stateSel.addEventListener('change', () => this.setFilter('state', this.stateSel.value));
    this.teamSel.addEventListener('change', () => this.setFilter('team_id', this.teamSel.value));
    this.tagSel.addEventListener('change', () => this.setFilter('tag', this.tagSel.value));
    this.unread.addEventListener('change', () => this.setFilter('unread', this.unread.checked));

    this.replaceChildren(
      h('section', { class: 'inbox-list', 'aria-label': 'Inbox' },
        h('div', { class: 'inbox-head' }, h('h1', {}, 'Conversations'), this.tabs),
        h('div', { class: 'filters' },
          h('div', { class: 'search' }, icon('search', 16), this.search),
          h('div', { class: 'filter-row' }, this.stateSel, this.teamSel, this.tagSel,
            h('label', { class: 'check' }, this.unread, 'Unread'))),
        h('div', { class: 'conv-scroll' }, this.list, this.empty, this.more)),
      h('div', { class: 'workspace-wrap' }, this.openTabs, this.workspace, this.placeholder));

    const redraw = debounce(() => this.draw(), 30);
    const refetch = debounce(() => this.fetch(), 800);
    this.offs = [
      live.bus.on('inbox', redraw),
      live.bus.on('conversation', (id) => {
        this.added.add(id);
        redraw();
        this.drawOpenTabs();
      }),
      live.bus.on('queue', (teamId) => {
        this.learnWaiting(teamId);
        if (this.tab !== 'mine') refetch();
      }),
      live.bus.on('tags', () => this.drawFilters()),
      live.bus.on('teams', () => this.drawFilters()),
      live.bus.on('me', () => this.drawTabs()),
    ];
    this.ticker = setInterval(() => this.list.querySelectorAll('[data-ago]').forEach((el) => {
      el.textContent = ago(el.dataset.ago);
    }), 30_000);
    this.drawTabs();
    this.drawFilters();
    this.fetch();
  }

  disconnectedCallback() {
    // Kept while the shell lives; the shell only hides it.
  }

  /** Route: `#/inbox/<id>` opens a conversation. */
  route(rest) {
    const id = Number(rest[0]);
    if (Number.isInteger(id) && id > 0) this.openConversation(id);
    else if (this.active) live.focus(this.active);
  }

  drawTabs() {
    const tabs = [['mine', 'Mine'], ['queue', 'Queue']];
    if (live.atLeast('supervisor')) tabs.push(['all', 'All']);
    const counts = this.counts();
    const keys = tabs.map(([k]) => k).join();
    // Rebuilt only when the set of tabs changes, so a focused tab keeps focus.
    if (this.drawnTabs !== keys) {
      this.drawnTabs = keys;
      replace(this.tabs, tabs.map(([key, label]) => h('button', {
        role: 'tab', class: 'tab', id: `tab-${key}`, dataset: { tab: key },
        onClick: () => this.setTab(key),
        onKeydown: (e) => this.tabKeys(e, tabs.map(([k]) => k)),
      }, label, h('span', { class: 'count' }))));
    }
    for (const button of this.tabs.querySelectorAll('[role="tab"]')) {
      const key = button.dataset.tab;
      button.setAttribute('aria-selected', String(this.tab === key));
      button.tabIndex = this.tab === key ? 0 : -1;
      const count = button.querySelector('.count');
      count.textContent = counts[key] ? String(counts[key]) : '';
      count.hidden = !counts[key];
    }
  }

  tabKeys(e, keys) {
    const i = keys.indexOf(this.tab);
    const next = e.key === 'ArrowRight' ? keys[(i + 1) % keys.length]
      : e.key === 'ArrowLeft' ? keys[(i + keys.length - 1) % keys.length] : null;
    if (next) {
      e.preventDefault();
      this.setTab(next);
      this.tabs.querySelector(`[data-tab="${next}"]`)?.focus();
    }
  }

  counts() {
    const me = live.state.me?.id;
    let mine = 0;
    for (const c of live.state.conversations.values()) {
      if (c.assignee_id === me && c.state === 'assigned') mine += 1;
    }
    let queue = 0;
    for (const q of live.state.queues.values()) queue += q.waiting.length;
    return { mine, queue };
  }

  drawFilters() {
    const keep = (sel, value) => { sel.value = value; };
    replace(this.teamSel, h('option', { value: '' }, 'All teams'),
      [...live.state.teams.values()].map((t) => h('option', { value: String(t.id) }, t.name)));
    replace(this.tagSel, h('option', { value: '' }, 'Any tag'),
      live.state.tags.map((t) => h('option', { value: t.name }, t.name)));
    keep(this.teamSel, this.filters.team_id);
    keep(this.tagSel, this.filters.tag);
    keep(this.stateSel, this.filters.state);
  }

  setTab(tab) {
    if (this.tab === tab) return;
    this.tab = tab;
    this.filters.state = tab === 'mine' ? 'assigned' : tab === 'queue' ? 'queued' : '';
    this.stateSel.value = this.filters.state;
    this.stateSel.disabled = tab === 'queue';
    this.drawTabs();
    this.fetch();
  }

  setFilter(key, value) {
    this.filters[key] = value;
    this.fetch();
  }

  /** The query of the current tab and filters. */
  params() {
    const f = this.filters;
    return {
      assignee: this.tab === 'mine' ? 'me' : undefined,
      state: this.tab === 'queue' ? 'queued' : f.state || undefined,
      team_id: f.team_id || undefined,
      tag: f.tag || undefined,
      unread: f.unread ? 'true' : undefined,
      q: f.q || undefined,
    };
  }

  async fetch(more = false) {
    const token = (this.fetchToken = {});
    const params = { ...this.params(), limit: 50, cursor: more ? this.nextCursor : undefined };
    try {
      const page = await api.get(`/conversations${api.query(params)}`);
      if (token !== this.fetchToken) return;
      if (!more) {
        this.ids = new Set();
        this.added = new Set();
      }
      for (const c of page.items) {
        live.upsert(c);
        this.ids.add(c.id);
      }
      this.nextCursor = page.next_cursor;
      this.draw();
      live.loadPreviews(page.items.map((c) => c.id)).catch(() => {});
    } catch (e) {
      if (token === this.fetchToken) {
        live.toast({ kind: 'danger', title: 'Could not load conversations', body: e.message });
      }
    }
  }

  /** Conversations entering a watched queue are fetched and shown. */
  async learnWaiting(teamId) {
    const ids = (live.state.queues.get(teamId)?.waiting ?? []).map((w) => w.conversation_id);
    await live.ensure(ids);
    for (const id of ids) this.added.add(id);
    this.drawTabs();
    this.draw();
  }

  /** Whether `c` belongs in the list as filtered now. */
  fits(c) {
    const f = this.filters;
    const me = live.state.me?.id;
    if (this.tab === 'mine' && c.assignee_id !== me) return false;
    if (this.tab === 'queue') {
      if (c.state !== 'queued') return false;
      const q = c.team_id !== null && live.state.queues.get(c.team_id);
      if (q && !q.waiting.some((w) => w.conversation_id === c.id)) return false;
    }
    const state = this.tab === 'queue' ? 'queued' : f.state;
    if (state && c.state !== state) return false;
    if (f.team_id && String(c.team_id) !== f.team_id) return false;
    if (f.tag && !c.tags.includes(f.tag)) return false;
    if (f.unread && !(c.unread?.agent > 0)) return false;
    if (f.q) {
      const q = f.q.toLowerCase();
      const hay = `${c.visitor?.name ?? ''} ${c.visitor?.email ?? ''} #${c.id}`.toLowerCase();
      if (!hay.includes(q) && String(c.id) !== q.replace('#', '')) return false;
    }
    return true;
  }

  draw() {
    const rows = [...new Set([...this.ids, ...this.added])]
      .map((id) => live.state.conversations.get(id))
      .filter((c) => c && this.fits(c))
      .sort((a, b) => b.id - a.id);
    replace(this.list, rows.map((c) => this.item(c)));
    this.more.hidden = !this.nextCursor;
    this.empty.hidden = rows.length > 0;
    this.empty.textContent = this.tab === 'mine' ? 'Nothing assigned to you. Go online to receive conversations.'
      : this.tab === 'queue' ? 'Nobody is waiting. Nice.' : 'No conversations match.';
    this.drawTabs();
    const unread = [...live.state.conversations.values()]
      .filter((c) => c.assignee_id === live.state.me?.id && c.unread?.agent > 0).length;
    if (!this.hidden) document.title = `${unread ? `(${unread}) ` : ''}Inbox · Switchboard`;
  }

  item(c) {
    const preview = live.state.previews.get(c.id);
    const name = visitorName(c);
    const unread = c.unread?.agent ?? 0;
    const sla = this.slaOf(c.id);
    const team = live.state.teams.get(c.team_id)?.name;
    const who = preview?.sender?.kind === 'agent' ? 'You: ' : preview?.sender?.kind === 'bot' ? 'Bot: ' : '';
    return h('li', { class: `conv-item${this.active === c.id ? ' is-active' : ''}${unread ? ' is-unread' : ''}`, dataset: { id: String(c.id) } },
      h('a', { href: `#/inbox/${c.id}`, class: 'conv-link', 'aria-current': this.active === c.id ? 'true' : null,
        'aria-label': `${name}, ${c.state}${unread ? `, ${unread} unread` : ''}` },
      h('span', { class: 'avatar', style: { '--hue': hue(name) }, 'aria-hidden': 'true' }, initials(name)),
      h('span', { class: 'conv-main' },
        h('span', { class: 'conv-top' },
          h('span', { class: 'conv-name' }, name),
          h('time', { class: 'conv-time', dataset: { ago: preview?.created_at ?? c.updated_at } }, ago(preview?.created_at ?? c.updated_at))),
        h('span', { class: 'conv-preview' }, preview ? who + preview.text : c.issue_type ? `About ${c.issue_type}` : 'No messages yet'),
        h('span', { class: 'conv-meta' },
          h('span', { class: `badge badge-${c.state}` }, c.state),
          team ? h('span', { class: 'badge badge-team' }, team) : null,
          sla ? h('span', { class: `badge badge-sla-${sla}` }, sla === 'breached' ? 'SLA breached' : 'SLA at risk') : null,
          c.tags.slice(0, 3).map((t) => h('span', { class: 'chip chip-small' }, t)))),
      unread ? h('span', { class: 'unread-count', 'aria-hidden': 'true' }, String(unread)) : null));
  }

  slaOf(id) {
    for (const q of live.state.queues.values()) {
      const w = q.waiting.find((x) => x.conversation_id === id);
      if (w?.sla) return w.sla;
    }
    return null;
  }

  // -------------------------------------------------------------------------
  // Open conversations
  // -------------------------------------------------------------------------

  openConversation(id) {
    if (!this.open.includes(id)) {
      this.open.push(id);
      if (this.open.length > MAX_OPEN) {
        const drop = this.open.find((x) => x !== id);
        this.closeTab(drop, false);
      }
      const view = document.createElement('sb-conversation');
      view.setAttribute('conversation-id', String(id));
      view.id = `conversation-${id}`;
      view.setAttribute('role', 'tabpanel');
      view.addEventListener('close-tab', () => this.closeTab(id));
      this.views.set(id, view);
      this.workspace.append(view);
    }
    this.active = id;
    for (const [vid, v] of this.views) v.hidden = vid !== id;
    this.classList.add('has-active');
    this.placeholder.hidden = true;
    this.drawOpenTabs();
    this.draw();
    live.focus(id);
    this.views.get(id)?.activate?.();
  }

  closeTab(id, navigate = true) {
    const view = this.views.get(id);
    view?.remove();
    this.views.delete(id);
    this.open = this.open.filter((x) => x !== id);
    if (this.active === id) {
      this.active = this.open[this.open.length - 1] ?? null;
      if (navigate) location.hash = this.active ? `#/inbox/${this.active}` : '#/inbox';
      if (!this.active) {
        live.focus(null);
        this.classList.remove('has-active');
        this.placeholder.hidden = false;
      }
    }
    this.drawOpenTabs();
    this.draw();
  }

  drawOpenTabs() {
    this.openTabs.hidden = this.open.length === 0;
    replace(this.openTabs, this.open.map((id) => {
      const c = live.state.conversations.get(id);
      const name = c ? visitorName(c) : `#${id}`;
      const unread = c?.unread?.agent ?? 0;
      return h('div', { class: `open-tab${id === this.active ? ' is-active' : ''}` },
        h('a', { href: `#/inbox/${id}`, role: 'tab', 'aria-selected': String(id === this.active), 'aria-controls': `conversation-${id}` },
          h('span', { class: 'open-tab-name' }, name),
          unread && id !== this.active ? h('span', { class: 'unread-dot', 'aria-label': `${unread} unread` }) : null),
        h('button', { class: 'icon-btn icon-btn-small', 'aria-label': `Close ${name}`, onClick: () => this.closeTab(id) }, icon('close', 14)));
    }));
  }
}

customElements.define('sb-inbox', Inbox);
