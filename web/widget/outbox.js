// The visitor's unacknowledged messages. Each keeps its client_msg_id for
// life, so however often it is sent (reconnects, retries, a reload) the
// server stores it once. Sent in order, only while the socket is ready,
// within a send budget; persisted so a navigation does not lose them.

/** How long an unanswered message.send waits before it shows as failed. */
const ACK_TIMEOUT_MS = 20000;
/** Client-side send budget, under the server's default of 10 per 10 s. */
const BUDGET = { count: 8, windowMs: 10000 };
/** Wait after a refusal that was not the message's fault. */
const RETRY_LATER_MS = 2000;

function newMessageId() {
  const random = globalThis.crypto?.randomUUID?.() ?? `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
  return `w-${random}`;
}

/**
 * @typedef {{client_msg_id: string, text: string, created_at: string, failed?: string,
 *   inFlight?: boolean, timer?: number}} OutboxItem
 * @typedef {'queued'|'pending'|'failed'} OutboxStatus
 */

export class Outbox {
  /**
   * @param {{items: OutboxItem[], save: (items: object[]) => void,
   *   send: (frame: object) => boolean, status: (id: string, status: OutboxStatus) => void}} opts
   *   send: puts a frame on the socket, false if it is not ready;
   *   status: tells the view how a message stands
   */
  constructor({ items, save, send, status }) {
    /** @type {OutboxItem[]} */
    this.items = items;
    this.persist = save;
    this.sendFrame = send;
    this.status = status;
    this.sent = [];
    this.flushTimer = null;
  }

  save() {
    this.persist(this.items.map(({ client_msg_id, text, created_at, failed }) => ({ client_msg_id, text, created_at, failed })));
  }

  /**
   * Queues a new message and tries to send it.
   * @param {string} text
   * @returns {OutboxItem}
   */
  add(text) {
    const item = { client_msg_id: newMessageId(), text, created_at: new Date().toISOString() };
    this.items.push(item);
    this.save();
    return item;
  }

  /** A failed message goes back in line. */
  retry(clientMsgId) {
    const item = this.items.find((o) => o.client_msg_id === clientMsgId);
    if (!item) return;
    delete item.failed;
    this.save();
    this.status(clientMsgId, 'queued');
    this.flush();
  }

  /**
   * The server has this message (ack, or seen in the history): forget it.
   * @returns {boolean} whether it was ours
   */
  settled(clientMsgId) {
    const i = this.items.findIndex((o) => o.client_msg_id === clientMsgId);
    if (i < 0) return false;
    clearTimeout(this.items[i].timer);
    this.items.splice(i, 1);
    this.save();
    return true;
  }

  /** The socket went away: whatever was in flight is sent again later. */
  interrupted() {
    for (const item of this.items) {
      if (item.inFlight) {
        item.inFlight = false;
        clearTimeout(item.timer);
      }
      if (!item.failed) this.status(item.client_msg_id, 'queued');
    }
  }

  /** Milliseconds until the budget allows another send (0: now). */
  wait(now = Date.now()) {
    this.sent = this.sent.filter((t) => now - t < BUDGET.windowMs);
    return this.sent.length < BUDGET.count ? 0 : BUDGET.windowMs - (now - this.sent[0]) + 10;
  }

  later(ms) {
    clearTimeout(this.flushTimer);
    this.flushTimer = setTimeout(() => this.flush(), ms);
  }

  /** Sends what waits, in order, while the socket takes it. */
  flush() {
    for (const item of this.items) {
      if (item.failed || item.inFlight) continue;
      const wait = this.wait();
      if (wait > 0) {
        this.later(wait);
        return;
      }
      const frame = { type: 'message.send', ref: item.client_msg_id, client_msg_id: item.client_msg_id, text: item.text };
      if (!this.sendFrame(frame)) return;
      this.sent.push(Date.now());
      item.inFlight = true;
      this.status(item.client_msg_id, 'pending');
      item.timer = setTimeout(() => {
        if (!this.items.includes(item) || !item.inFlight) return;
        item.inFlight = false;
        item.failed = 'timeout';
        this.save();
        this.status(item.client_msg_id, 'failed');
      }, ACK_TIMEOUT_MS);
    }
  }

  /**
   * An `error` frame; if it answers one of our sends, that message fails
   * (or, for a refusal that is not its fault, waits and goes again).
   * @param {{ref?: string, code?: string}} frame
   */
  refused(frame) {
    const item = frame.ref && this.items.find((o) => o.client_msg_id === frame.ref);
    if (!item) return;
    clearTimeout(item.timer);
    item.inFlight = false;
    if (frame.code === 'rate_limited' || frame.code === 'internal') {
      this.later(RETRY_LATER_MS);
      return;
    }
    item.failed = frame.code || 'error';
    this.save();
    this.status(item.client_msg_id, 'failed');
  }

  /** Stops the timers (the widget is going away). */
  stop() {
    clearTimeout(this.flushTimer);
    for (const item of this.items) clearTimeout(item.timer);
  }
}
