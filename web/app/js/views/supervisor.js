// The supervisor view: every watched team's queue live (who waits, for how
// long, SLA state) and every agent live (status, load against capacity,
// what they hold). Conversations are assigned and reassigned by dragging
// them onto an agent, or with the "Assign" menu (the keyboard way).

import { h, icon, replace, debounce } from '../dom.js';
import * as api from '../api.js';
import * as live from '../live.js';
import { waited, initials, hue, visitorName, clock } from '../format.js';
import { openDialog, field } from '../ui/dialog.js';

const DRAG_TYPE = 'application/x-switchboard-conversation';

/** `<sb-supervisor>` */
export class Supervisor extends HTMLElement {
  connectedCallback() {
    if (this.built) return;
    this.built = true;
    this.className = 'supervisor';
    /** Assigned conversations by agent id. */
    this.holding = new Map();
    /** Recent SLA notifications, newest first. */
    this.alerts = [];
    this.stats = h('div', { class: 'stats', role: 'group', 'aria-label': 'Summary' });
    this.queues = h('div', { class: 'queue-grid' });
    this.agentList = h('ul', { class: 'agent-list', 'aria-label': 'Agents' });
    this.alertList = h('ul', { class: 'alert-list', 'aria-label': 'SLA alerts' });
    this.replaceChildren(
      h('div', { class: 'page-head' }, h('h1', {}, 'Supervisor'), h('p', { class: 'muted' }, 'Live queues and agents. Drag a conversation onto an agent to assign it.')),
      this.stats,
      h('div', { class: 'supervisor-grid' },
        h('section', { class: 'sv-queues', 'aria-labelledby': 'sv-queues-h' }, h('h2', { id: 'sv-queues-h' }, 'Queues'), this.queues),
        h('section', { class: 'sv-agents', 'aria-labelledby': 'sv-agents-h' }, h('h2', { id: 'sv-agents-h' }, 'Agents'), this.agentList,
          h('h2', { class: 'sv-alerts-h' }, 'SLA alerts'), this.alertList)));
    const redraw = debounce(() => this.draw(), 50);
    const reload = debounce(() => this.loadAssigned(), 500);
    this.offs = [
      live.bus.on('queue', (team) => {
        live.ensure((live.state.queues.get(team)?.waiting ?? []).map((w) => w.conversation_id)).then(redraw);
        redraw();
        reload();
      }),
      live.bus.on('agents', () => { redraw(); reload(); }),
      live.bus.on('conversation', redraw),
      live.bus.on('teams', redraw),
      live.bus.on('notification', (f) => {
        this.alerts.unshift({ ...f, at: new Date().toISOString() });
        this.alerts.length = Math.min(this.alerts.length, 20);
        redraw();
      }),
    ];
    this.ticker = setInterval(() => {
      for (const el of this.querySelectorAll('[data-since]')) el.textContent = waited(el.dataset.since);
    }, 1000);
    this.draw();
    this.loadAssigned();
  }

  route() {
    this.draw();
  }

  async loadAssigned() {
    try {
      const items = await api.all('/conversations', { state: 'assigned' });
      this.holding = new Map();
      for (const c of items) {
        live.upsert(c);
        if (!this.holding.has(c.assignee_id)) this.holding.set(c.assignee_id, []);
        this.holding.get(c.assignee_id).push(c.id);
      }
      this.draw();
    } catch {
      // The next change retries.
    }
  }

  /** Agents of every watched queue, once each. */
  agents() {
    const out = new Map();
    for (const q of live.state.queues.values()) {
      for (const a of q.agents) out.set(a.id, { ...a, ...live.state.agents.get(a.id) });
    }
    const order = { online: 0, away: 1, offline: 2 };
    return [...out.values()].sort((a, b) => (order[a.status] - order[b.status]) || a.name.localeCompare(b.name));
  }

  draw() {
    // A redraw would replace the element being dragged and cancel the drag.
    if (this.dragging) {
      this.drawLater = true;
      return;
    }
    const teams = live.watchableTeams();
    let waiting = 0;
    let oldest = null;
    let risk = 0;
    let breached = 0;
    for (const t of teams) {
      for (const w of live.state.queues.get(t.id)?.waiting ?? []) {
        waiting += 1;
        if (!oldest || w.waiting_since < oldest) oldest = w.waiting_since;
        if (w.sla === 'warning') risk += 1;
        if (w.sla === 'breached') breached += 1;
      }
    }
    const agents = this.agents();
    const online = agents.filter((a) => a.status === 'online').length;
    const load = agents.reduce((n, a) => n + a.load, 0);
    const capacity = agents.filter((a) => a.status === 'online').reduce((n, a) => n + a.capacity, 0);
    replace(this.stats,
      stat('Waiting', String(waiting)),
      stat('Longest wait', oldest ? h('span', { dataset: { since: oldest } }, waited(oldest)) : '—'),
      stat('Agents online', `${online} / ${agents.length}`),
      stat('Load', capacity ? `${load} / ${capacity}` : String(load)),
      stat('SLA at risk', String(risk), risk ? 'warning' : ''),
      stat('SLA breached', String(breached), breached ? 'danger' : ''));
    // Lists are rebuilt only when what they show changed, so frequent
    // frames (presence, SLA) do not churn the DOM under the pointer.
    const queueKey = JSON.stringify(teams.map((t) => [t.id, t.name, live.state.queues.get(t.id)?.waiting,
      (live.state.queues.get(t.id)?.waiting ?? []).map((w) => visitorName(live.state.conversations.get(w.conversation_id)))]));
    if (queueKey !== this.queueKey) {
      this.queueKey = queueKey;
      replace(this.queues, teams.length ? teams.map((t) => this.queueCard(t))
        : h('p', { class: 'empty' }, 'You are not in any team yet.'));
    }
    const agentKey = JSON.stringify(agents.map((a) => [a, this.heldBy(a).map((c) => [c.id, visitorName(c)])]));
    if (agentKey !== this.agentKey) {
      this.agentKey = agentKey;
      replace(this.agentList, agents.length ? agents.map((a) => this.agentCard(a))
        : h('li', { class: 'empty' }, 'No agents in your teams.'));
    }
    replace(this.alertList, this.alerts.length ? this.alerts.map((a) => h('li', { class: `alert alert-${a.kind === 'sla.breach' ? 'danger' : 'warning'}` },
      icon('warning', 14),
      h('a', { href: `#/inbox/${a.conversation_id}` }, live.state.conversations.has(a.conversation_id)
        ? `${visitorName(live.state.conversations.get(a.conversation_id))} (#${a.conversation_id})` : `#${a.conversation_id}`),
      ` ${a.kind === 'sla.breach' ? 'breached' : 'at risk'}: ${a.sla.replace('_', ' ')} due ${clock(a.due_at)}`))
      : h('li', { class: 'muted' }, 'No alerts.'));
  }

  queueCard(team) {
    const q = live.state.queues.get(team.id);
    const waiting = q?.waiting ?? [];
    const oldest = waiting.reduce((o, w) => (!o || w.waiting_since < o ? w.waiting_since : o), null);
    return h('article', { class: 'queue-card', dataset: { team: String(team.id) }, 'aria-label': `Queue of ${team.name}` },
      h('header', { class: 'queue-head' },
        h('h3', {}, team.name),
        h('span', { class: 'queue-count', 'aria-label': `${waiting.length} waiting` }, String(waiting.length)),
        oldest ? h('span', { class: 'muted' }, 'longest ', h('span', { dataset: { since: oldest } }, waited(oldest))) : null),
      q ? null : h('p', { class: 'muted' }, 'Connecting…'),
      waiting.length ? h('ul', { class: 'waiting-list' }, waiting.map((w) => this.waitingRow(w)))
        : q ? h('p', { class: 'empty' }, 'Nobody waiting.') : null);
  }

  waitingRow(w) {
    const c = live.state.conversations.get(w.conversation_id);
    const name = c ? visitorName(c) : `#${w.conversation_id}`;
    return h('li', {
      class: `waiting-row${w.sla ? ` sla-${w.sla}` : ''}`, draggable: true,
      dataset: { conversation: String(w.conversation_id) },
      onDragstart: (e) => this.dragStart(e, w.conversation_id),
      onDragend: () => this.dragEnd(),
    },
    h('span', { class: 'grip', 'aria-hidden': 'true' }, icon('grip', 14)),
    h('div', { class: 'waiting-main' },
      h('a', { href: `#/inbox/${w.conversation_id}`, class: 'waiting-name' }, name),
      h('span', { class: 'muted' }, c?.issue_type ?? '', w.skills?.length ? ` · needs ${w.skills.join(', ')}` : '')),
    w.priority ? h('span', { class: 'badge' }, `P${w.priority}`) : null,
    w.sla ? h('span', { class: `badge badge-sla-${w.sla}` }, w.sla === 'breached' ? 'SLA breached' : 'SLA at risk') : null,
    h('span', { class: 'wait-clock', dataset: { since: w.waiting_since }, 'aria-label': 'waiting time' }, waited(w.waiting_since)),
    h('button', { class: 'btn btn-small', 'aria-label': `Assign ${name}`, onClick: () => this.assignMenu(w.conversation_id) }, 'Assign'));
  }

  /** The conversations `a` holds, as far as we know. */
  heldBy(a) {
    return (this.holding.get(a.id) ?? []).map((id) => live.state.conversations.get(id))
      .filter((c) => c?.assignee_id === a.id && c.state === 'assigned');
  }

  agentCard(a) {
    const held = this.heldBy(a);
    const pct = a.capacity ? Math.min(100, Math.round((a.load / a.capacity) * 100)) : 0;
    const card = h('li', {
      class: 'agent-card', dataset: { agent: String(a.id), status: a.status },
      'aria-label': `${a.name}, ${a.status}, ${a.load} of ${a.capacity}`,
    },
    h('div', { class: 'agent-top' },
      h('span', { class: 'avatar', style: { '--hue': hue(a.name) }, 'aria-hidden': 'true' }, initials(a.name),
        h('span', { class: 'status-dot', dataset: { status: a.status } })),
      h('div', { class: 'agent-name' }, h('strong', {}, a.name), h('span', { class: 'muted agent-status' }, a.status)),
      h('span', { class: 'load-text' }, `${a.load}/${a.capacity}`)),
    h('div', { class: 'loadbar', role: 'meter', 'aria-valuemin': '0', 'aria-valuemax': String(a.capacity), 'aria-valuenow': String(a.load), 'aria-label': `Load of ${a.name}` },
      h('span', { style: { width: `${pct}%` }, class: pct >= 100 ? 'full' : '' })),
    held.length ? h('ul', { class: 'held' }, held.map((c) => h('li', {
      class: 'held-item', draggable: true, dataset: { conversation: String(c.id) },
      onDragstart: (e) => this.dragStart(e, c.id),
      onDragend: () => this.dragEnd(),
    }, h('a', { href: `#/inbox/${c.id}` }, visitorName(c)),
    h('button', { class: 'icon-btn icon-btn-small', 'aria-label': `Reassign ${visitorName(c)}`, onClick: () => this.assignMenu(c.id) }, icon('transfer', 14))))) : null);
    card.addEventListener('dragover', (e) => {
      if (e.dataTransfer?.types.includes(DRAG_TYPE)) {
        e.preventDefault();
        card.classList.add('drop-target');
      }
    });
    card.addEventListener('dragleave', () => card.classList.remove('drop-target'));
    card.addEventListener('drop', (e) => {
      e.preventDefault();
      card.classList.remove('drop-target');
      const id = Number(e.dataTransfer.getData(DRAG_TYPE));
      this.dragEnd();
      if (id) this.assign(id, a);
    });
    return card;
  }

  dragStart(e, id) {
    this.dragging = true;
    e.dataTransfer.setData(DRAG_TYPE, String(id));
    e.dataTransfer.setData('text/plain', `#${id}`);
    e.dataTransfer.effectAllowed = 'move';
  }

  dragEnd() {
    this.dragging = false;
    if (this.drawLater) {
      this.drawLater = false;
      this.draw();
    }
  }

  async assign(id, agent) {
    try {
      await live.assign(id, agent.id);
      live.toast({ kind: 'info', title: `Assigned to ${agent.name}` });
      this.loadAssigned();
    } catch (e) {
      live.toast({ kind: 'danger', title: 'Could not assign', body: e.message });
    }
  }

  async assignMenu(id) {
    const agents = this.agents();
    const c = live.state.conversations.get(id);
    const select = h('select', { name: 'agent_id' }, agents.filter((a) => a.id !== c?.assignee_id).map((a) => h('option', {
      value: String(a.id), disabled: a.load >= a.capacity,
    }, `${a.name} — ${a.status}, ${a.load}/${a.capacity}`)));
    const agent = await openDialog({
      title: `Assign ${c ? visitorName(c) : `#${id}`}`,
      submitLabel: 'Assign',
      body: field('Agent', select),
      submit: async () => {
        const a = agents.find((x) => x.id === Number(select.value));
        await live.assign(id, a.id);
        return a;
      },
    });
    if (agent) {
      live.toast({ kind: 'info', title: `Assigned to ${agent.name}` });
      this.loadAssigned();
    }
  }
}

function stat(label, value, tone = '') {
  return h('div', { class: `stat${tone ? ` stat-${tone}` : ''}` }, h('span', { class: 'stat-label' }, label), h('strong', { class: 'stat-value' }, value));
}

customElements.define('sb-supervisor', Supervisor);
