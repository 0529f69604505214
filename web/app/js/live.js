// The live model of the dashboard: what the server told us (REST answers
// and socket frames) in one place, and the actions views call. Views
// subscribe to `bus` topics and redraw from `state`; they never talk to the
// socket themselves.
//
// Topics: `me`, `conversation` (id), `inbox`, `thread` (id), `typing` (id),
// `queue` (team id), `agents`, `connection` (state), `toast` ({…}),
// `notification` (frame), `tags`, `teams`.

import * as api from './api.js';
import * as session from './session.js';
import { Emitter } from './events.js';
import { StaffSocket } from './socket.js';
import { visitorName } from './format.js';

/** Messages per history page. */
export const PAGE = 30;
/** A typing indicator nobody switched off disappears after this long. */
const TYPING_TTL = 8000;

/** Everything the views draw from. */
export const state = {
  /** @type {any} the user (as `/me`) */
  me: null,
  /** @type {Map<number, any>} */
  teams: new Map(),
  /** @type {any[]} */
  tags: [],
  /** @type {Map<number, any>} agents by id: `{id, name, status, load, capacity}` */
  agents: new Map(),
  /** @type {Map<number, any>} */
  conversations: new Map(),
  /** @type {Map<number, Thread>} */
  threads: new Map(),
  /** @type {Map<number, {waiting: any[], agents: any[], at: number}>} */
  queues: new Map(),
  /** @type {Map<number, any>} last message preview by conversation */
  previews: new Map(),
  /** @type {Map<number, {name: string, timer: number}>} */
  typing: new Map(),
  /** The conversation the agent is looking at (its reads are marked). */
  focused: /** @type {number | null} */ (null),
  connection: 'closed',
};

/** Views subscribe here. */
export const bus = new Emitter();

/** @type {StaffSocket | null} */
let socket = null;

/**
 * One conversation's timeline as far as it is loaded.
 */
export class Thread {
  constructor(id) {
    this.id = id;
    /** @type {Map<number, any>} committed messages by seq */
    this.bySeq = new Map();
    /** @type {any[]} sent but not yet acknowledged: `{client_msg_id, text, state}` */
    this.pending = [];
    /** @type {Map<number, any>} internal notes by id */
    this.notes = new Map();
    this.loaded = false;
    this.hasOlder = false;
    this.loadingOlder = false;
    /** Highest seq the customer has read / received. */
    this.customerRead = 0;
    this.customerDelivered = 0;
  }

  /** Highest seq held without a gap from the oldest loaded one. */
  get lastSeq() {
    let max = 0;
    for (const seq of this.bySeq.keys()) if (seq > max) max = seq;
    return max;
  }

  get oldestSeq() {
    let min = Infinity;
    for (const seq of this.bySeq.keys()) if (seq < min) min = seq;
    return min === Infinity ? 0 : min;
  }

  /** Messages ascending by seq. */
  messages() {
    return [...this.bySeq.values()].sort((a, b) => a.seq - b.seq);
  }

  /** Adds a committed message; returns false if it was there already. */
  add(message) {
    if (this.bySeq.has(message.seq)) return false;
    this.bySeq.set(message.seq, message);
    if (message.client_msg_id) {
      this.pending = this.pending.filter((p) => p.client_msg_id !== message.client_msg_id);
    }
    return true;
  }
}

/** The thread of a conversation, created empty on first use. */
export function thread(id) {
  let t = state.threads.get(id);
  if (!t) state.threads.set(id, (t = new Thread(id)));
  return t;
}

/** Whether the caller is at least `role`. */
export function atLeast(role) {
  const order = { agent: 0, supervisor: 1, admin: 2 };
  return (order[state.me?.role] ?? -1) >= order[role];
}

/** Teams whose queues this user may watch (admins: all). */
export function watchableTeams() {
  if (state.me?.role === 'admin') return [...state.teams.values()];
  const mine = new Set((state.me?.teams ?? []).map((t) => t.id));
  return [...state.teams.values()].filter((t) => mine.has(t.id));
}

/** Shows a toast. @param {{kind?: string, title: string, body?: string, action?: {label: string, run: () => void}}} t */
export function toast(t) {
  bus.emit('toast', t);
}

/**
 * An RFC 3339 time as a string that sorts like the time (the server writes
 * 0 to 9 fractional digits, so the raw strings do not).
 * @param {string} t
 */
export function sortable(t) {
  const m = /^(.*?:\d\d)(?:\.(\d+))?(Z|[+-].*)?$/.exec(t ?? '');
  return m ? `${m[1]}.${(m[2] ?? '').padEnd(9, '0')}` : String(t);
}

/** Stores a conversation from the server and tells its viewers. A copy
 *  older than the one held (a slow REST answer overtaken by a socket frame)
 *  is ignored. */
export function upsert(conversation) {
  const before = state.conversations.get(conversation.id);
  if (before && sortable(conversation.updated_at) < sortable(before.updated_at)) return before;
  // `unread` is not pushed on messages; keep the live count when the
  // incoming copy is older than what we counted.
  if (before && before.last_seq > conversation.last_seq) {
    conversation = { ...conversation, last_seq: before.last_seq, unread: before.unread };
  }
  state.conversations.set(conversation.id, conversation);
  bus.emit('conversation', conversation.id);
  bus.emit('inbox');
  return conversation;
}

/** Loads the user, teams and tags, then opens the socket. */
export async function start() {
  state.me = await api.get('/me');
  session.setUser(state.me);
  await Promise.all([loadTeams(), loadTags()]);
  bus.emit('me');
  socket = new StaffSocket({ token: () => session.accessToken() });
  socket.on('state', (s) => {
    state.connection = s;
    bus.emit('connection', s);
  });
  socket.on('open', onOpen);
  socket.on('frame', onFrame);
  socket.on('ended', () => {
    session.forget();
  });
  socket.start();
}

/** Closes the socket and forgets everything (logout). */
export function stop() {
  socket?.stop();
  socket = null;
  state.me = null;
  for (const m of [state.teams, state.agents, state.conversations, state.threads, state.queues,
    state.previews, state.typing]) m.clear();
  state.tags = [];
}

/** (Re)loads every team (any staff role may read them). */
export async function loadTeams() {
  const teams = await api.all('/teams');
  state.teams = new Map(teams.map((t) => [t.id, t]));
  bus.emit('teams');
}

/** (Re)loads the tag catalogue. */
export async function loadTags() {
  state.tags = (await api.get('/tags')).items;
  bus.emit('tags');
}

/** After every (re)connect: watch the queues, catch up every loaded thread. */
function onOpen(hello) {
  state.me = { ...state.me, ...hello.me };
  bus.emit('me');
  for (const team of watchableTeams()) socket.send({ type: 'queue.watch', team_id: team.id });
  for (const t of state.threads.values()) {
    if (t.loaded) resume(t);
  }
}

/** Follows a conversation live, first receiving what we missed; then
 *  resends what was still unacknowledged (same `client_msg_id`, so the
 *  server stores each message once). */
async function resume(t) {
  try {
    await socket.request({ type: 'resume', conversation_id: t.id, after_seq: t.lastSeq });
  } catch {
    return;
  }
  for (const p of t.pending.filter((p) => p.state !== 'failed')) transmit(t, p);
}

function onFrame(f) {
  switch (f.type) {
    case 'message.new': return onMessage(f.message);
    case 'message.ack': return onMessage(f.message);
    case 'typing': return onTyping(f);
    case 'receipt': return onReceipt(f);
    case 'conversation.assigned': return onAssigned(f.conversation);
    case 'conversation.updated': return upsert(f.conversation);
    case 'note.created': return onNote(f.note);
    case 'queue.snapshot':
    case 'queue.update': return onQueue(f);
    case 'presence': return onPresence(f);
    case 'notification': return onNotification(f);
    default: return undefined;
  }
}

function onMessage(m) {
  const t = thread(m.conversation_id);
  const gap = t.loaded && m.seq > t.lastSeq + 1;
  const fresh = t.add(m);
  state.previews.set(m.conversation_id, m);
  const c = state.conversations.get(m.conversation_id);
  if (fresh && c) {
    const unread = { ...c.unread };
    if (m.sender.kind === 'customer' && !isReading(m.conversation_id)) unread.agent += 1;
    state.conversations.set(c.id, { ...c, last_seq: Math.max(c.last_seq, m.seq), unread });
    bus.emit('conversation', c.id);
  }
  if (m.sender.kind === 'customer') clearTyping(m.conversation_id);
  if (gap && socket) resume(t);
  bus.emit('thread', m.conversation_id);
  bus.emit('inbox');
  if (fresh && m.sender.kind === 'customer') markRead(m.conversation_id);
}

function isReading(id) {
  return state.focused === id && document.visibilityState === 'visible';
}

function onTyping(f) {
  if (f.by.kind !== 'customer') return;
  if (f.is_typing) {
    const prev = state.typing.get(f.conversation_id);
    clearTimeout(prev?.timer);
    const timer = setTimeout(() => clearTyping(f.conversation_id), TYPING_TTL);
    state.typing.set(f.conversation_id, { name: f.by.name ?? 'The visitor', timer });
    bus.emit('typing', f.conversation_id);
  } else {
    clearTyping(f.conversation_id);
  }
}

function clearTyping(id) {
  const t = state.typing.get(id);
  if (!t) return;
  clearTimeout(t.timer);
  state.typing.delete(id);
  bus.emit('typing', id);
}

function onReceipt(f) {
  const t = thread(f.conversation_id);
  if (f.by.kind === 'customer') {
    if (f.kind === 'read') t.customerRead = Math.max(t.customerRead, f.up_to_seq);
    t.customerDelivered = Math.max(t.customerDelivered, f.up_to_seq);
    bus.emit('thread', f.conversation_id);
  } else if (f.kind === 'read') {
    const c = state.conversations.get(f.conversation_id);
    if (c && f.up_to_seq >= c.last_seq && c.unread.agent) {
      state.conversations.set(c.id, { ...c, unread: { ...c.unread, agent: 0 } });
      bus.emit('conversation', c.id);
      bus.emit('inbox');
    }
  }
}

/** Assignments to ourselves made from this tab (accept, assign to me),
 *  by conversation id → when, so their frame brings no toast. */
const ownAssignments = new Map();
/** An own assignment whose frame has not come by then never will. */
const OWN_ASSIGNMENT_TTL = 15000;

/** Runs `request`, an assignment of conversation `id` to ourselves. */
async function assigningMyself(id, request) {
  ownAssignments.set(id, Date.now());
  try {
    return await request();
  } catch (e) {
    ownAssignments.delete(id);
    throw e;
  }
}

function onAssigned(c) {
  upsert(c);
  if (c.assignee_id !== state.me?.id) return;
  // Every such frame is a change of assignee to us (protocol §4.5), so it
  // is news whatever we held: a REST copy (the inbox list, a queue entry
  // fetched) may already say "assigned to you" when the frame comes.
  const own = ownAssignments.get(c.id);
  ownAssignments.delete(c.id);
  if (own === undefined || Date.now() - own > OWN_ASSIGNMENT_TTL) {
    toast({
      kind: 'assigned',
      title: `New conversation: ${visitorName(c)}`,
      body: c.issue_type ? `About ${c.issue_type}` : 'Assigned to you',
      action: { label: 'Open', run: () => { location.hash = `#/inbox/${c.id}`; } },
    });
  }
}

function onNote(note) {
  const t = thread(note.conversation_id);
  t.notes.set(note.id, note);
  bus.emit('thread', note.conversation_id);
}

function onQueue(f) {
  state.queues.set(f.team_id, { waiting: f.waiting, agents: f.agents, at: Date.now() });
  for (const a of f.agents) state.agents.set(a.id, { ...state.agents.get(a.id), ...a });
  bus.emit('queue', f.team_id);
  bus.emit('agents');
  bus.emit('inbox');
}

function onPresence(f) {
  const a = state.agents.get(f.agent_id) ?? { id: f.agent_id, name: `#${f.agent_id}` };
  state.agents.set(f.agent_id, { ...a, status: f.status, load: f.load, capacity: f.capacity });
  if (f.agent_id === state.me?.id) {
    state.me = { ...state.me, status: f.status, capacity: f.capacity };
    bus.emit('me');
  }
  bus.emit('agents');
}

function onNotification(f) {
  bus.emit('notification', f);
  // The server sends SLA alerts to every watcher of the queue; watching
  // the SLA is the supervisors' job, so plain agents get no toast.
  if (!atLeast('supervisor')) return;
  const c = state.conversations.get(f.conversation_id);
  const who = c ? visitorName(c) : `#${f.conversation_id}`;
  const what = f.sla === 'first_response' ? 'first response' : 'resolution';
  toast({
    kind: f.kind === 'sla.breach' ? 'danger' : 'warning',
    title: f.kind === 'sla.breach' ? `SLA breached: ${who}` : `SLA at risk: ${who}`,
    body: `The ${what} target ${f.kind === 'sla.breach' ? 'was' : 'is'} due ${new Date(f.due_at).toLocaleTimeString()}`,
    action: { label: 'Open', run: () => { location.hash = `#/inbox/${f.conversation_id}`; } },
  });
}

// ---------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------

/** The conversation, from memory or the server. */
export async function conversation(id) {
  return state.conversations.get(id) ?? upsert(await api.get(`/conversations/${id}`));
}

/**
 * Opens a conversation's thread: newest page of history and the notes,
 * then follows it live (`resume` from the last seq we hold, so a message
 * committed in between arrives once).
 */
export async function openThread(id) {
  const t = thread(id);
  if (!t.loaded) {
    const [page, notes] = await Promise.all([
      api.get(`/conversations/${id}/messages?limit=${PAGE}`),
      api.get(`/conversations/${id}/notes`),
    ]);
    for (const m of page.items) t.add(m);
    for (const n of notes.items) t.notes.set(n.id, n);
    t.hasOlder = Boolean(page.next_cursor);
    t.loaded = true;
    bus.emit('thread', id);
    if (socket?.state === 'open') resume(t);
  }
  return t;
}

/** Loads the page before the oldest message held. */
export async function loadOlder(id) {
  const t = thread(id);
  if (!t.hasOlder || t.loadingOlder) return false;
  t.loadingOlder = true;
  try {
    const page = await api.get(`/conversations/${id}/messages?before_seq=${t.oldestSeq}&limit=${PAGE}`);
    for (const m of page.items) t.add(m);
    t.hasOlder = Boolean(page.next_cursor);
  } finally {
    t.loadingOlder = false;
  }
  bus.emit('thread', id);
  return true;
}

/** Conversations being fetched, so many views asking share one request. */
const fetching = new Map();

/**
 * Makes sure the conversations are in `state.conversations` (fetching the
 * missing ones); those gone or out of reach are skipped.
 * @param {number[]} ids
 */
export async function ensure(ids) {
  await Promise.all(ids.filter((id) => !state.conversations.has(id)).map((id) => {
    if (!fetching.has(id)) {
      fetching.set(id, api.get(`/conversations/${id}`).then(upsert).catch(() => null)
        .finally(() => fetching.delete(id)));
    }
    return fetching.get(id);
  }));
}

/** Fetches previews for the conversations that have none yet. */
export async function loadPreviews(ids) {
  const missing = ids.filter((id) => !state.previews.has(id)
    && (state.conversations.get(id)?.last_seq ?? 0) > 0);
  for (let i = 0; i < missing.length; i += 200) {
    const page = await api.get(`/conversation-previews?ids=${missing.slice(i, i + 200).join(',')}`);
    for (const p of page.items) state.previews.set(p.conversation_id, p.last_message);
  }
  if (missing.length) bus.emit('inbox');
}

// ---------------------------------------------------------------------------
// Actions
// ---------------------------------------------------------------------------

/** Marks the staff side as having read a conversation the agent looks at. */
export function markRead(id) {
  const c = state.conversations.get(id);
  if (!c || !isReading(id) || !socket) return;
  const t = state.threads.get(id);
  const upTo = Math.max(c.last_seq, t?.lastSeq ?? 0);
  // Once per new seq: the read mark never moves back, so repeating it is noise.
  if (upTo > 0 && (c.unread.agent > 0 || upTo > (readSent.get(id) ?? 0))) {
    if (socket.send({ type: 'read', conversation_id: id, up_to_seq: upTo })) readSent.set(id, upTo);
  }
}

/** The highest `read` sent per conversation. */
const readSent = new Map();

/** Which conversation is on screen (its messages count as read). */
export function focus(id) {
  state.focused = id;
  if (id) markRead(id);
}

function transmit(t, p) {
  p.state = 'sending';
  bus.emit('thread', t.id);
  socket?.request({ type: 'message.send', conversation_id: t.id, client_msg_id: p.client_msg_id, text: p.text })
    .then((ack) => onMessage(ack.message))
    .catch((e) => {
      // Dropped connections are resent after the next resume.
      p.state = e.code === 'disconnected' || e.code === 'timeout' ? 'queued' : 'failed';
      p.error = e.message;
      bus.emit('thread', t.id);
    });
}

/** Sends a reply; it shows at once and is confirmed by its ack. */
export function sendMessage(id, text) {
  const t = thread(id);
  const p = { client_msg_id: crypto.randomUUID(), text, state: 'sending', created_at: new Date().toISOString() };
  t.pending.push(p);
  transmit(t, p);
}

/** Tries a failed message again (same `client_msg_id`). */
export function retry(id, clientMsgId) {
  const t = thread(id);
  const p = t.pending.find((x) => x.client_msg_id === clientMsgId);
  if (p) transmit(t, p);
}

/** Tells the customer whether the agent is typing. */
export function typing(id, isTyping) {
  socket?.send({ type: 'typing', conversation_id: id, is_typing: isTyping });
}

/** Writes an internal note (REST; followers get `note.created`). */
export async function addNote(id, text) {
  const note = await api.post(`/conversations/${id}/notes`, { text });
  onNote(note);
  return note;
}

/** Accepts a queued conversation. */
export async function accept(id) {
  const c = upsert(await assigningMyself(id, () => api.post(`/conversations/${id}/accept`)));
  await openThread(id);
  return c;
}

/** Hands a conversation to an agent or a team. */
export async function transfer(id, target, note) {
  return upsert(await api.post(`/conversations/${id}/transfer`, { ...target, ...(note ? { note } : {}) }));
}

/** Gives a conversation to an agent (supervisors, admins). */
export async function assign(id, agentId) {
  const request = () => api.post(`/conversations/${id}/assign`, { agent_id: agentId });
  return upsert(await (agentId === state.me?.id ? assigningMyself(id, request) : request()));
}

/** Closes with a reason. */
export async function close(id, reason) {
  return upsert(await api.post(`/conversations/${id}/close`, { reason }));
}

/** Reopens a closed conversation. */
export async function reopen(id) {
  return upsert(await api.post(`/conversations/${id}/reopen`));
}

/** Adds tags by name. */
export async function addTags(id, names) {
  return upsert(await api.post(`/conversations/${id}/tags`, { tags: names }));
}

/** Removes one tag. */
export async function removeTag(id, name) {
  return upsert(await api.del(`/conversations/${id}/tags/${encodeURIComponent(name)}`));
}

/** Sets the user's presence (the socket when open, else REST). */
export async function setPresence(status) {
  if (socket?.state === 'open') {
    await socket.request({ type: 'presence.set', status });
  } else {
    await api.patch('/me', { status });
  }
  state.me = { ...state.me, status };
  bus.emit('me');
}

let macroCache = /** @type {Promise<any[]> | null} */ (null);

/**
 * The macros the caller may use, cached for the `/` picker.
 * @param {{fresh?: boolean}} [opts] `fresh` reloads after an edit
 * @returns {Promise<any[]>}
 */
export function macros({ fresh = false } = {}) {
  if (!macroCache || fresh) {
    macroCache = api.get('/macros?limit=200').then((r) => r.items).catch((e) => {
      macroCache = null;
      throw e;
    });
  }
  return macroCache;
}
