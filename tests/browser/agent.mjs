// A scripted staff member for browser tests: created through admin REST,
// set online, and speaking the staff socket protocol (/ws/v1/agent) from
// Node (WebSocket is built in with --experimental-websocket on Node 20,
// see package.json). Every wait is bounded and names what it waited for.

import { api, login } from './harness.mjs';

let made = 0;

/** How long a frame may take before a wait fails. */
export const FRAME_WAIT_MS = 10000;

/**
 * Creates a staff user through the admin API, logs it in and sets it
 * online. Returns `{id, name, email, token}`.
 * @param {{url: string}} server
 * @param {string} adminToken
 * @param {{teamIds?: number[], role?: string, name?: string, capacity?: number, online?: boolean}} [opts]
 */
export async function createAgent(server, adminToken, { teamIds = [], role = 'agent', name, capacity = 5, online = true } = {}) {
  made += 1;
  const email = `agent${made}-${Date.now()}@browser.test`;
  const password = 'agent-password-1';
  const user = await api(server, 'POST', '/api/v1/users', {
    email, password, name: name ?? `Agent ${made}`, role, capacity, team_ids: teamIds,
  }, adminToken);
  const session = await login(server, email, password);
  if (online) await api(server, 'PATCH', '/api/v1/me', { status: 'online' }, session.access_token);
  return { id: user.id, name: user.name, email, token: session.access_token };
}

/** One staff socket. */
export class AgentSocket {
  /**
   * Opens the socket and waits for `hello`.
   * @param {{url: string}} server
   * @param {string} token
   */
  static async open(server, token) {
    if (typeof WebSocket !== 'function') {
      throw new Error('WebSocket missing: run node with --experimental-websocket (Node 20)');
    }
    const s = new AgentSocket(new WebSocket(`${server.url.replace(/^http/, 'ws')}/ws/v1/agent?access_token=${token}`));
    s.hello = await s.next((f) => f.type === 'hello', 'hello');
    return s;
  }

  constructor(ws) {
    this.ws = ws;
    /** Every frame received, in order. */
    this.frames = [];
    this.waiters = [];
    this.refs = 0;
    ws.addEventListener('message', (ev) => {
      const frame = JSON.parse(ev.data);
      this.frames.push(frame);
      this.waiters = this.waiters.filter((w) => !w.check());
    });
    ws.addEventListener('close', () => {
      this.closed = true;
      for (const w of this.waiters) w.fail(new Error(`socket closed while waiting for ${w.what}`));
      this.waiters = [];
    });
  }

  /**
   * The first frame (from `from` on) matching `pred`, received or to come.
   * @param {(f: any) => boolean} pred
   * @param {string} what for the error message
   * @param {{from?: number, timeout?: number}} [opts] from: index into `frames`
   */
  next(pred, what, { from = 0, timeout = FRAME_WAIT_MS } = {}) {
    return new Promise((resolve, reject) => {
      const waiter = {
        what,
        check: () => {
          const hit = this.frames.slice(from).find(pred);
          if (!hit) return false;
          clearTimeout(waiter.timer);
          resolve(hit);
          return true;
        },
        fail: (e) => {
          clearTimeout(waiter.timer);
          reject(e);
        },
      };
      if (waiter.check()) return;
      if (this.closed) {
        reject(new Error(`socket closed before ${what}`));
        return;
      }
      waiter.timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`no ${what} within ${timeout} ms; frames: ${JSON.stringify(this.frames.slice(from).map((f) => f.type))}`));
      }, timeout);
      this.waiters.push(waiter);
    });
  }

  /** Where the next `next({from})` should start to see only new frames. */
  mark() {
    return this.frames.length;
  }

  send(frame) {
    this.ws.send(JSON.stringify(frame));
  }

  /** Sends a frame with a fresh ref and waits for its direct answer. */
  async request(frame, answer = ['ok', 'error', 'message.ack', 'resume.done']) {
    this.refs += 1;
    const ref = `t${this.refs}`;
    const from = this.mark();
    this.send({ ...frame, ref });
    const reply = await this.next((f) => f.ref === ref && answer.includes(f.type), `answer to ${frame.type}`, { from });
    if (reply.type === 'error') throw new Error(`${frame.type} refused: ${reply.code} ${reply.message}`);
    return reply;
  }

  /** A message in a conversation; resolves with the stored message. */
  async say(conversationId, text) {
    this.refs += 1;
    const reply = await this.request({ type: 'message.send', conversation_id: conversationId, client_msg_id: `agent-${this.refs}-${Date.now()}`, text });
    return reply.message;
  }

  /** Follows a conversation and returns the history it sends. */
  async resume(conversationId, afterSeq = 0) {
    const from = this.mark();
    await this.request({ type: 'resume', conversation_id: conversationId, after_seq: afterSeq });
    return this.frames.slice(from).filter((f) => f.type === 'message.new' && f.message.conversation_id === conversationId).map((f) => f.message);
  }

  typing(conversationId, isTyping) {
    this.send({ type: 'typing', conversation_id: conversationId, is_typing: isTyping });
  }

  read(conversationId, upToSeq) {
    this.send({ type: 'read', conversation_id: conversationId, up_to_seq: upToSeq });
  }

  /** Waits for a message from the customer whose text satisfies `match`. */
  customerMessage(conversationId, match, { from = 0 } = {}) {
    const test = typeof match === 'string' ? (t) => t === match : match;
    return this.next((f) => f.type === 'message.new' && f.message.conversation_id === conversationId
      && f.message.sender.kind === 'customer' && test(f.message.text), `customer message ${match}`, { from }).then((f) => f.message);
  }

  close() {
    this.ws.close();
  }
}
