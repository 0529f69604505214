// One open conversation: header with its actions (accept, tags, transfer,
// close, reopen), the timeline of messages and internal notes (older pages
// load when scrolling up), the typing indicator, the composer, and the
// visitor panel beside it.

import { h, icon, replace } from '../dom.js';
import * as api from '../api.js';
import * as live from '../live.js';
import { clock, initials, hue, visitorName } from '../format.js';
import { openDialog, field } from '../ui/dialog.js';
import './composer.js';
import './visitor.js';

/** Close reasons offered; any other text is allowed too. */
const REASONS = ['resolved', 'no response', 'duplicate', 'spam'];
/** Scrolled this close to the top, the previous page loads. */
const LOAD_OLDER_AT = 80;

/**
 * Text with links: http(s) URLs become anchors, everything else stays a
 * text node (never parsed as HTML).
 * @param {string} text
 */
export function linkified(text) {
  const out = [];
  const re = /\bhttps?:\/\/[^\s<>"']+[^\s<>"'.,;:!?)]/g;
  let last = 0;
  for (const m of text.matchAll(re)) {
    if (m.index > last) out.push(text.slice(last, m.index));
    out.push(h('a', { href: m[0], target: '_blank', rel: 'noopener noreferrer' }, m[0]));
    last = m.index + m[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

/** `<sb-conversation conversation-id="42">` */
export class ConversationView extends HTMLElement {
  connectedCallback() {
    if (this.built) return;
    this.built = true;
    this.cid = Number(this.getAttribute('conversation-id'));
    this.className = 'conversation';
    /** Timeline elements by key, so redraws reuse nodes. */
    this.nodes = new Map();
    this.header = h('header', { class: 'conv-header' });
    this.tagsRow = h('div', { class: 'tags-row' });
    this.banner = h('div', { class: 'banner', role: 'status', hidden: true });
    this.older = h('button', { class: 'btn btn-ghost btn-small load-older', onClick: () => this.loadOlder() }, 'Load older messages');
    this.start = h('p', { class: 'timeline-start', hidden: true }, 'This is the beginning of the conversation.');
    this.timeline = h('div', { class: 'timeline', role: 'log', 'aria-label': 'Messages', tabindex: '0' });
    this.typingLine = h('div', { class: 'typing', 'aria-live': 'polite' });
    this.composer = document.createElement('sb-composer');
    this.composer.setAttribute('conversation-id', String(this.cid));
    this.panel = document.createElement('sb-visitor-panel');
    this.panel.setAttribute('conversation-id', String(this.cid));
    this.timeline.addEventListener('scroll', () => {
      if (this.timeline.scrollTop < LOAD_OLDER_AT) this.loadOlder();
    });
    this.replaceChildren(
      h('div', { class: 'conv-column' },
        this.header, this.tagsRow, this.banner,
        h('div', { class: 'timeline-wrap' }, this.timeline),
        this.typingLine, this.composer),
      this.panel);
    this.offs = [
      live.bus.on('conversation', (id) => { if (id === this.cid) this.drawHeader(); }),
      live.bus.on('thread', (id) => { if (id === this.cid) this.drawTimeline(); }),
      live.bus.on('typing', (id) => { if (id === this.cid) this.drawTyping(); }),
      live.bus.on('tags', () => this.drawHeader()),
    ];
    this.load();
  }

  disconnectedCallback() {
    this.offs?.forEach((off) => off());
  }

  /** Became the visible tab. */
  activate() {
    this.composer.focusInput?.();
    this.stickToBottom();
  }

  async load() {
    try {
      await live.conversation(this.cid);
      this.drawHeader();
      await live.openThread(this.cid);
      this.drawTimeline();
      this.stickToBottom();
      live.markRead(this.cid);
    } catch (e) {
      this.banner.hidden = false;
      this.banner.textContent = e.status === 404
        ? 'This conversation does not exist or is no longer yours to see.'
        : `Could not load the conversation: ${e.message}`;
    }
  }

  get conv() {
    return live.state.conversations.get(this.cid);
  }

  /** What the caller may do now (the server checks again). */
  rights() {
    const c = this.conv;
    const me = live.state.me;
    if (!c || !me) return {};
    const holder = c.assignee_id === me.id;
    const staffOverride = me.role !== 'agent';
    const open = c.state !== 'closed';
    return {
      accept: c.state === 'queued',
      move: open && c.state !== 'bot' && (holder || staffOverride),
      close: open && (holder || staffOverride),
      reopen: c.state === 'closed',
      write: open && (holder || staffOverride),
    };
  }

  drawHeader() {
    const c = this.conv;
    if (!c) return;
    const r = this.rights();
    const name = visitorName(c);
    const team = live.state.teams.get(c.team_id)?.name;
    const assignee = c.assignee_id === live.state.me?.id ? 'you'
      : live.state.agents.get(c.assignee_id)?.name ?? (c.assignee_id ? `agent #${c.assignee_id}` : null);
    replace(this.header,
      h('button', { class: 'icon-btn back-btn', 'aria-label': 'Back to the list', onClick: () => { location.hash = '#/inbox'; } }, icon('back')),
      h('span', { class: 'avatar', style: { '--hue': hue(name) }, 'aria-hidden': 'true' }, initials(name)),
      h('div', { class: 'conv-title' },
        h('h2', {}, name),
        h('p', { class: 'conv-sub' },
          h('span', { class: `badge badge-${c.state}` }, c.state),
          c.closed_reason ? h('span', {}, ` ${c.closed_reason}`) : null,
          team ? h('span', {}, ` · ${team}`) : null,
          assignee ? h('span', {}, ` · with ${assignee}`) : null,
          h('span', { class: 'muted' }, ` · #${c.id}`))),
      h('div', { class: 'conv-actions' },
        r.accept ? h('button', { class: 'btn btn-primary', onClick: () => this.accept() }, icon('check'), 'Accept') : null,
        r.move ? h('button', { class: 'btn', onClick: () => this.transfer() }, icon('transfer'), 'Transfer') : null,
        r.close ? h('button', { class: 'btn', onClick: () => this.close() }, icon('check'), 'Close') : null,
        r.reopen ? h('button', { class: 'btn', onClick: () => this.reopen() }, icon('reopen'), 'Reopen') : null,
        h('button', {
          class: 'icon-btn panel-toggle', 'aria-label': 'Visitor details', 'aria-pressed': String(this.panelShown()),
          onClick: (e) => {
            // Wide screens show the panel unless hidden; narrow ones hide it unless opened.
            this.classList.toggle(matchMedia('(max-width: 1180px)').matches ? 'panel-open' : 'panel-hidden');
            e.currentTarget.setAttribute('aria-pressed', String(this.panelShown()));
          },
        }, icon('panel')),
        h('button', { class: 'icon-btn', 'aria-label': 'Close tab', onClick: () => this.dispatchEvent(new CustomEvent('close-tab')) }, icon('close'))));
    this.drawTags();
    this.composer.refresh?.(r.write);
    this.drawBanner(c);
  }

  drawBanner(c) {
    const me = live.state.me;
    let text = '';
    if (c.state === 'closed') text = `Closed${c.closed_reason ? ` (${c.closed_reason})` : ''}. Reopen it to write to the customer again.`;
    else if (c.state === 'queued') text = 'Waiting in the queue. Accept it to reply.';
    else if (me?.role === 'agent' && c.assignee_id !== me.id) text = 'Another agent has this conversation now.';
    this.banner.hidden = !text;
    this.banner.textContent = text;
  }

  drawTags() {
    const c = this.conv;
    const available = live.state.tags.filter((t) => !c.tags.includes(t.name));
    const colors = new Map(live.state.tags.map((t) => [t.name, t.color]));
    const select = h('select', { class: 'tag-add', 'aria-label': 'Add a tag' },
      h('option', { value: '' }, '+ Add tag'),
      available.map((t) => h('option', { value: t.name }, t.name)));
    select.addEventListener('change', async () => {
      const name = select.value;
      if (!name) return;
      select.disabled = true;
      try {
        await live.addTags(this.cid, [name]);
      } catch (e) {
        live.toast({ kind: 'danger', title: 'Could not add the tag', body: e.message });
        select.disabled = false;
      }
    });
    replace(this.tagsRow,
      h('span', { class: 'tags-label' }, icon('tag', 14), h('span', { class: 'sr-only' }, 'Tags')),
      h('ul', { class: 'chips', 'aria-label': 'Tags' }, c.tags.map((t) => h('li', {
        class: 'chip', style: colors.get(t) ? { '--chip': colors.get(t) } : null,
      }, t, h('button', {
        class: 'chip-x', 'aria-label': `Remove tag ${t}`,
        onClick: () => live.removeTag(this.cid, t).catch((e) => live.toast({ kind: 'danger', title: 'Could not remove the tag', body: e.message })),
      }, '×')))),
      available.length ? select : null);
  }

  panelShown() {
    return matchMedia('(max-width: 1180px)').matches
      ? this.classList.contains('panel-open') : !this.classList.contains('panel-hidden');
  }

  async accept() {
    try {
      await live.accept(this.cid);
    } catch (e) {
      live.toast({ kind: 'danger', title: 'Could not accept', body: e.status === 409 ? 'Someone else took it first.' : e.message });
    }
  }

  async reopen() {
    try {
      await live.reopen(this.cid);
      live.toast({ kind: 'info', title: 'Conversation reopened' });
    } catch (e) {
      live.toast({ kind: 'danger', title: 'Could not reopen', body: e.message });
    }
  }

  async transfer() {
    const agents = (await api.get('/agents')).items.filter((a) => a.id !== this.conv.assignee_id);
    const order = { online: 0, away: 1, offline: 2 };
    agents.sort((a, b) => (order[a.status] - order[b.status]) || a.name.localeCompare(b.name));
    const toAgent = h('input', { type: 'radio', name: 'target', value: 'agent', checked: true });
    const toTeam = h('input', { type: 'radio', name: 'target', value: 'team' });
    const agent = h('select', { name: 'agent_id', 'aria-label': 'Agent' }, agents.map((a) => h('option', {
      value: String(a.id), disabled: a.load >= a.capacity,
    }, `${a.name} — ${a.status}, ${a.load}/${a.capacity}`)));
    const team = h('select', { name: 'team_id', 'aria-label': 'Team', disabled: true },
      [...live.state.teams.values()].map((t) => h('option', { value: String(t.id), selected: t.id === this.conv.team_id }, t.name)));
    const sync = () => {
      agent.disabled = !toAgent.checked;
      team.disabled = !toTeam.checked;
    };
    toAgent.addEventListener('change', sync);
    toTeam.addEventListener('change', sync);
    const note = h('textarea', { name: 'note', rows: 3, maxlength: 2000, placeholder: 'What should they know? (internal, never shown to the customer)' });
    const done = await openDialog({
      title: 'Transfer conversation',
      submitLabel: 'Transfer',
      body: [
        h('fieldset', { class: 'radio-row' }, h('legend', { class: 'field-label' }, 'Transfer to'),
          h('label', { class: 'check' }, toAgent, 'An agent'),
          h('label', { class: 'check' }, toTeam, 'A team’s queue')),
        field('Agent', agent), field('Team', team), field('Note for the receiver', note),
      ],
      submit: () => live.transfer(this.cid,
        toAgent.checked ? { agent_id: Number(agent.value) } : { team_id: Number(team.value) },
        note.value.trim()),
    });
    if (done) live.toast({ kind: 'info', title: 'Conversation transferred' });
  }

  async close() {
    const choice = h('select', { name: 'reason' }, REASONS.map((r) => h('option', { value: r }, r)), h('option', { value: '' }, 'other…'));
    const other = h('input', { type: 'text', name: 'other', maxlength: 200, placeholder: 'Reason', hidden: true });
    choice.addEventListener('change', () => { other.hidden = choice.value !== ''; if (!other.hidden) other.focus(); });
    const done = await openDialog({
      title: 'Close conversation',
      submitLabel: 'Close conversation',
      body: [field('Reason', choice), other],
      submit: () => {
        const reason = choice.value || other.value.trim();
        if (!reason) throw new Error('Give a reason.');
        return live.close(this.cid, reason);
      },
    });
    if (done) live.toast({ kind: 'info', title: 'Conversation closed', body: `Reason: ${done.closed_reason}` });
  }

  async loadOlder() {
    const t = live.state.threads.get(this.cid);
    if (!t?.hasOlder || t.loadingOlder) return;
    const fromBottom = this.timeline.scrollHeight - this.timeline.scrollTop;
    this.older.disabled = true;
    this.older.textContent = 'Loading…';
    try {
      await live.loadOlder(this.cid);
    } catch (e) {
      live.toast({ kind: 'danger', title: 'Could not load older messages', body: e.message });
    }
    this.older.disabled = false;
    this.older.textContent = 'Load older messages';
    // Keep what the agent was reading in place.
    this.timeline.scrollTop = this.timeline.scrollHeight - fromBottom;
  }

  atBottom() {
    const t = this.timeline;
    return t.scrollHeight - t.scrollTop - t.clientHeight < 48;
  }

  stickToBottom() {
    requestAnimationFrame(() => { this.timeline.scrollTop = this.timeline.scrollHeight; });
  }

  /** Messages, notes and pending sends, in time order, keyed for reuse. */
  items(t) {
    const rows = [];
    for (const m of t.messages()) rows.push({ key: `m${m.seq}`, at: m.created_at, seq: m.seq, kind: 'message', data: m });
    for (const n of t.notes.values()) rows.push({ key: `n${n.id}`, at: n.created_at, seq: Infinity, kind: 'note', data: n });
    rows.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : a.seq - b.seq));
    for (const p of t.pending) rows.push({ key: `p${p.client_msg_id}`, at: p.created_at, kind: 'pending', data: p });
    return rows;
  }

  drawTimeline() {
    const t = live.state.threads.get(this.cid);
    if (!t?.loaded) return;
    const stick = this.atBottom();
    const fromBottom = this.timeline.scrollHeight - this.timeline.scrollTop;
    const prependedOlder = t.oldestSeq < (this.oldestDrawn ?? Infinity) && this.oldestDrawn !== undefined;
    this.oldestDrawn = t.oldestSeq;
    const lastAgent = t.messages().filter((m) => m.sender.kind === 'agent').pop();
    const els = [t.hasOlder ? this.older : this.start];
    this.start.hidden = t.hasOlder;
    let day = '';
    for (const row of this.items(t)) {
      const d = new Date(row.at).toDateString();
      if (d !== day) {
        day = d;
        els.push(this.node(`d${d}`, () => h('div', { class: 'day', role: 'separator' },
          h('span', {}, new Date(row.at).toLocaleDateString(undefined, { weekday: 'long', day: 'numeric', month: 'long' })))));
      }
      if (row.kind === 'message') {
        const el = this.node(row.key, () => this.messageEl(row.data));
        this.receipt(el, row.data, t, row.data === lastAgent);
        els.push(el);
      } else if (row.kind === 'note') {
        els.push(this.node(row.key, () => this.noteEl(row.data)));
      } else {
        els.push(this.pendingEl(row.data));
      }
    }
    const current = [...this.timeline.children];
    if (current.length !== els.length || current.some((el, i) => el !== els[i])) {
      this.timeline.replaceChildren(...els);
    }
    for (const key of this.nodes.keys()) {
      if (key.startsWith('p')) this.nodes.delete(key);
    }
    if (stick) this.stickToBottom();
    else if (prependedOlder) this.timeline.scrollTop = this.timeline.scrollHeight - fromBottom;
  }

  node(key, make) {
    let el = this.nodes.get(key);
    if (!el) this.nodes.set(key, (el = make()));
    return el;
  }

  messageEl(m) {
    const side = m.sender.kind;
    const name = side === 'customer' ? (m.sender.name || visitorName(this.conv))
      : side === 'agent' ? (m.sender.id === live.state.me?.id ? 'You' : m.sender.name ?? 'Agent')
        : side === 'bot' ? (m.sender.name ?? 'Bot') : 'System';
    return h('article', { class: `msg msg-${side}`, dataset: { seq: String(m.seq) }, 'aria-label': `${name} at ${clock(m.created_at)}` },
      side === 'bot' ? h('span', { class: 'msg-label' }, icon('bolt', 12), 'Bot') : null,
      h('div', { class: 'msg-bubble' }, h('p', { class: 'msg-text' }, linkified(m.text))),
      h('footer', { class: 'msg-meta' },
        h('span', {}, name), ' · ', h('time', { datetime: m.created_at }, clock(m.created_at)),
        h('span', { class: 'msg-receipt' })));
  }

  receipt(el, m, t, isLastAgent) {
    const r = el.querySelector('.msg-receipt');
    if (!r) return;
    const text = !isLastAgent ? '' : t.customerRead >= m.seq ? ' · Seen'
      : t.customerDelivered >= m.seq ? ' · Delivered' : ' · Sent';
    if (r.textContent !== text) r.textContent = text;
  }

  noteEl(n) {
    const mine = n.author?.id === live.state.me?.id;
    return h('aside', { class: 'note', 'aria-label': 'Internal note', dataset: { note: String(n.id) } },
      h('header', { class: 'note-head' }, icon('lock', 12),
        h('strong', {}, 'Internal note'), ` · ${mine ? 'You' : n.author?.name ?? 'Staff'} · `,
        h('time', { datetime: n.created_at }, clock(n.created_at))),
      h('p', { class: 'msg-text' }, linkified(n.text)));
  }

  pendingEl(p) {
    const status = p.state === 'failed' ? `Not sent: ${p.error ?? 'refused'}` : p.state === 'queued' ? 'Waiting for the connection…' : 'Sending…';
    return h('article', { class: `msg msg-agent msg-pending msg-${p.state}`, 'aria-label': status },
      h('div', { class: 'msg-bubble' }, h('p', { class: 'msg-text' }, p.text)),
      h('footer', { class: 'msg-meta' }, status,
        p.state === 'failed' ? h('button', { class: 'btn btn-small', onClick: () => live.retry(this.cid, p.client_msg_id) }, 'Retry') : null));
  }

  drawTyping() {
    const t = live.state.typing.get(this.cid);
    replace(this.typingLine, t ? [h('span', { class: 'dots', 'aria-hidden': 'true' }, h('i'), h('i'), h('i')), `${t.name} is typing…`] : []);
  }
}

customElements.define('sb-conversation', ConversationView);
