// The customer socket (`/ws/v1/customer?token=`): connects, sends `resume`
// from the last seq the widget holds, reconnects with exponential backoff,
// and watches the link with its own pings (a browser cannot see the
// server's). States:
//   connecting → syncing (hello seen, resume sent) → ready (resume.done)
//   → connecting again after any drop; `offline` while the browser says so.
// Messages are only sent while `ready`, after the history is in, so the
// widget can tell what the server already has (invariant: nothing lost,
// nothing doubled; the server deduplicates by client_msg_id, the widget
// by seq).

const PING_EVERY_MS = 15000;
const PONG_WITHIN_MS = 8000;
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 15000;

/**
 * @typedef {'idle'|'connecting'|'syncing'|'ready'|'offline'|'stopped'} ConnectionState
 */

/**
 * One visitor's socket. Dispatches `frame` (CustomEvent, detail: the parsed
 * server frame), `state` (detail: the new state) and `failure` (detail:
 * {attempts}) after a failed attempt.
 */
export class Connection extends EventTarget {
  /**
   * @param {{url: string, token: string, lastSeq: () => number}} opts
   *   url: ws(s)://host/ws/v1/customer; lastSeq: the highest seq held now
   */
  constructor({ url, token, lastSeq }) {
    super();
    this.url = url;
    this.token = token;
    this.lastSeq = lastSeq;
    /** @type {ConnectionState} */
    this.state = 'idle';
    this.ws = null;
    this.attempts = 0;
    this.timers = new Set();
    this.pingTimer = null;
    this.pongTimer = null;
    this.refs = 0;
    this.onOnline = () => {
      if (this.state === 'offline' || this.state === 'connecting') this.reconnectNow();
    };
    this.onOffline = () => {
      // The socket would linger until a timeout; drop it and wait for "online".
      this.drop();
      this.setState('offline');
    };
  }

  /** Opens the socket (and keeps it open until `stop`). */
  start() {
    window.addEventListener('online', this.onOnline);
    window.addEventListener('offline', this.onOffline);
    this.connect();
  }

  /** Closes for good. */
  stop() {
    window.removeEventListener('online', this.onOnline);
    window.removeEventListener('offline', this.onOffline);
    this.drop();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.setState('stopped');
  }

  /** Reconnects at once (e.g. the network is back), forgetting the backoff. */
  reconnectNow() {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.attempts = 0;
    this.drop();
    this.connect();
  }

  /**
   * Sends a frame if the socket is ready (history in); false otherwise.
   * @param {Record<string, unknown>} frame
   */
  send(frame) {
    const open = this.ws && this.ws.readyState === WebSocket.OPEN;
    if (!open || this.state !== 'ready') return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  /** @param {ConnectionState} state */
  setState(state) {
    if (this.state === state) return;
    this.state = state;
    this.dispatchEvent(new CustomEvent('state', { detail: state }));
  }

  later(fn, ms) {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
    return t;
  }

  connect() {
    if (this.state === 'stopped') return;
    if (navigator.onLine === false) {
      this.setState('offline');
      return;
    }
    this.setState('connecting');
    let ws;
    try {
      ws = new WebSocket(`${this.url}?token=${encodeURIComponent(this.token)}`);
    } catch {
      this.failed();
      return;
    }
    this.ws = ws;
    ws.onmessage = (ev) => this.receive(ev.data);
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.stopPings();
      this.failed();
    };
    ws.onerror = () => {
      // onclose follows and decides.
    };
  }

  /** Forgets the current socket without waiting for its close handshake. */
  drop() {
    const ws = this.ws;
    this.ws = null;
    this.stopPings();
    if (ws) {
      ws.onmessage = ws.onclose = ws.onerror = null;
      try {
        ws.close();
      } catch {
        // Already closing.
      }
    }
  }

  failed() {
    if (this.state === 'stopped') return;
    if (navigator.onLine === false) {
      this.setState('offline');
      return;
    }
    this.attempts += 1;
    this.setState('connecting');
    this.dispatchEvent(new CustomEvent('failure', { detail: { attempts: this.attempts } }));
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** (this.attempts - 1));
    // Jitter, so a server restart is not met by every widget at once.
    this.later(() => this.connect(), base * (0.8 + Math.random() * 0.4));
  }

  receive(data) {
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      return;
    }
    // Any frame proves the link is alive.
    if (this.pongTimer) {
      clearTimeout(this.pongTimer);
      this.pongTimer = null;
    }
    if (frame.type === 'hello') {
      this.setState('syncing');
      this.ws.send(JSON.stringify({ type: 'resume', ref: 'resume', after_seq: this.lastSeq() }));
      this.startPings();
    } else if (frame.type === 'resume.done' && frame.ref === 'resume') {
      this.attempts = 0;
      this.setState('ready');
    } else if (frame.type === 'pong') {
      return;
    }
    this.dispatchEvent(new CustomEvent('frame', { detail: frame }));
  }

  startPings() {
    this.stopPings();
    this.pingTimer = setInterval(() => {
      if (!this.ws || this.ws.readyState !== WebSocket.OPEN || this.pongTimer) return;
      this.refs += 1;
      this.ws.send(JSON.stringify({ type: 'ping', ref: `hb-${this.refs}` }));
      this.pongTimer = setTimeout(() => {
        this.pongTimer = null;
        // Silent link: treat as dropped and reconnect.
        this.drop();
        this.failed();
      }, PONG_WITHIN_MS);
    }, PING_EVERY_MS);
  }

  stopPings() {
    clearInterval(this.pingTimer);
    clearTimeout(this.pongTimer);
    this.pingTimer = null;
    this.pongTimer = null;
  }
}
