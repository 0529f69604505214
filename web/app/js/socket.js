// The staff socket `/ws/v1/agent`: one connection, reconnected with
// exponential backoff and jitter; requests carry a `ref` and resolve with
// their direct answer (`ok`, `message.ack`, `resume.done`, `pong`) or
// reject with the `error` frame.

import { Emitter } from './events.js';

/** Backoff bounds (ms). */
const MIN_DELAY = 500;
const MAX_DELAY = 15_000;
/** A request without an answer after this long is given up. */
const REQUEST_TIMEOUT = 10_000;

/** A request that failed on the server (`error` frame) or in transit. */
export class SocketError extends Error {
  /** @param {string} code @param {string} message */
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

/**
 * Events: `open` (after `hello`, with it), `frame` (every server frame),
 * `state` (`connecting` | `open` | `closed`), `ended` (the server ended
 * the session: log in again).
 */
export class StaffSocket extends Emitter {
  /** @param {{token: () => Promise<string>}} opts */
  constructor({ token }) {
    super();
    this.token = token;
    /** @type {WebSocket | null} */
    this.ws = null;
    this.state = 'closed';
    this.attempt = 0;
    this.nextRef = 1;
    /** @type {Map<string, {resolve: Function, reject: Function, timer: number}>} */
    this.pending = new Map();
    this.stopped = true;
    this.heartbeat = 0;
    this.lastFrameAt = 0;
    this.retryTimer = 0;
  }

  /** Connects (and keeps reconnecting) until {@link stop}. */
  start() {
    this.stopped = false;
    this.connect();
  }

  /** Closes for good (logout). */
  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.heartbeat);
    this.ws?.close(1000, 'bye');
    this.ws = null;
    this.failAll('disconnected');
    this.setState('closed');
  }

  setState(state) {
    if (this.state !== state) {
      this.state = state;
      this.emit('state', state);
    }
  }

  async connect() {
    if (this.stopped) return;
    this.setState('connecting');
    let token;
    try {
      token = await this.token();
    } catch {
      this.emit('ended', 'session');
      return;
    }
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const ws = new WebSocket(`${scheme}://${location.host}/ws/v1/agent?access_token=${encodeURIComponent(token)}`);
    this.ws = ws;
    ws.addEventListener('message', (ev) => this.onMessage(ev));
    ws.addEventListener('close', (ev) => this.onClose(ws, ev));
  }

  onMessage(ev) {
    this.lastFrameAt = Date.now();
    let frame;
    try {
      frame = JSON.parse(ev.data);
    } catch {
      return;
    }
    if (frame.type === 'hello') {
      this.attempt = 0;
      this.setState('open');
      this.startHeartbeat(frame.heartbeat_ms ?? 10_000);
      this.emit('open', frame);
    }
    const ref = frame.ref;
    if (ref && this.pending.has(ref)) {
      const p = this.pending.get(ref);
      this.pending.delete(ref);
      clearTimeout(p.timer);
      if (frame.type === 'error') p.reject(new SocketError(frame.code, frame.message));
      else p.resolve(frame);
    }
    this.emit('frame', frame);
  }

  onClose(ws, ev) {
    if (this.ws !== ws) return;
    this.ws = null;
    clearInterval(this.heartbeat);
    this.failAll('disconnected');
    this.setState('closed');
    if (this.stopped) return;
    // The server ended this login (logout elsewhere, deactivation, password
    // change): reconnecting with the same token would be refused.
    if (ev.code === 1008 && /ended|logged out|password/.test(ev.reason)) {
      this.emit('ended', ev.reason);
      return;
    }
    const base = Math.min(MAX_DELAY, MIN_DELAY * 2 ** this.attempt);
    this.attempt += 1;
    const delay = base / 2 + Math.random() * base / 2;
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  /** Application pings keep the server's liveness check and ours fed: a
   *  socket silent for three heartbeats is assumed dead and replaced. */
  startHeartbeat(ms) {
    clearInterval(this.heartbeat);
    this.lastFrameAt = Date.now();
    this.heartbeat = setInterval(() => {
      if (Date.now() - this.lastFrameAt > ms * 3) {
        this.ws?.close(4000, 'no answer');
        if (this.ws) this.onClose(this.ws, { code: 4000, reason: 'no answer' });
        return;
      }
      this.send({ type: 'ping' });
    }, ms);
  }

  failAll(reason) {
    for (const [, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new SocketError('disconnected', reason));
    }
    this.pending.clear();
  }

  /** Sends a frame if connected; returns whether it went out. */
  send(frame) {
    if (this.ws?.readyState !== WebSocket.OPEN || this.state !== 'open') return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  /**
   * Sends a frame with a fresh `ref`; resolves with its direct answer.
   * Rejects with code `disconnected` when the socket is not open.
   * @param {Record<string, any>} frame
   * @returns {Promise<any>}
   */
  request(frame) {
    const ref = `r${this.nextRef++}`;
    return new Promise((resolve, reject) => {
      if (!this.send({ ...frame, ref })) {
        reject(new SocketError('disconnected', 'not connected'));
        return;
      }
      const timer = setTimeout(() => {
        this.pending.delete(ref);
        reject(new SocketError('timeout', 'no answer from the server'));
      }, REQUEST_TIMEOUT);
      this.pending.set(ref, { resolve, reject, timer });
    });
  }
}
