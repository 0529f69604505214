// The conversation view: the message log (committed messages in seq order,
// then the visitor's pending ones), delivery marks, the typing line, the
// composer with its emoji picker, and the end-of-chat panel (rating,
// transcript, new chat). It only draws; widget.js decides.

import { h, icon } from './dom.js';
import { renderMarkdown } from './markdown.js';
import { createEmojiPicker } from './emoji.js';
import { createRating } from './forms.js';

/** Longest message the server takes (docs/protocol.md §1.6). */
export const MAX_TEXT = 4000;

function timeOf(iso) {
  const d = iso ? new Date(iso) : new Date();
  return Number.isNaN(d.getTime()) ? '' : d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

/**
 * @typedef {{seq: number, client_msg_id?: string|null, text: string, created_at: string,
 *   sender: {kind: string, id?: number|null, name?: string|null}}} Message
 */

/** The conversation view; the controller feeds it messages, marks and state. */
export class ChatView {
  /**
   * @param {{t: Record<string, any>, onSend: (text: string) => void, onRetry: (id: string) => void,
   *   onTyping: (typing: boolean) => void, onRate: (score: number, comment: string) => Promise<void>,
   *   onDownload: (format: string) => void, onNewChat: () => void}} opts
   */
  constructor(opts) {
    this.opts = opts;
    const { t } = opts;
    this.t = t;
    /** @type {Map<string, HTMLElement>} key: `s<seq>` or `c<client_msg_id>` */
    this.items = new Map();
    this.marks = { delivered: 0, read: 0 };
    this.welcome = h('li', { class: 'msg them welcome' }, h('div', { class: 'bubble' }));
    this.log = h('ol', { class: 'log', role: 'log', 'aria-live': 'polite', 'aria-label': t.messages }, this.welcome);
    this.typingLine = h('div', { class: 'typing', 'aria-live': 'polite', hidden: true });
    this.input = h('textarea', {
      class: 'input',
      rows: 1,
      maxlength: MAX_TEXT,
      'aria-label': t.message,
      placeholder: t.placeholder,
      enterkeyhint: 'send',
    });
    this.emojiButton = h('button', {
      type: 'button',
      class: 'icon-button emoji-button',
      'aria-label': t.emoji,
      'aria-haspopup': 'dialog',
      'aria-expanded': 'false',
      onclick: () => this.toggleEmoji(),
    }, icon('smile'));
    this.sendButton = h('button', { type: 'submit', class: 'icon-button send', 'aria-label': t.send }, icon('send'));
    this.picker = createEmojiPicker({
      label: t.emojiPicker,
      onPick: (e) => this.insert(e),
      onClose: () => this.toggleEmoji(false),
    });
    this.picker.element.hidden = true;
    this.composer = h('form', { class: 'composer', onsubmit: (e) => { e.preventDefault(); this.submit(); } },
      this.picker.element, this.emojiButton, this.input, this.sendButton);
    this.input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        this.submit();
      }
    });
    this.input.addEventListener('input', () => {
      this.autosize();
      opts.onTyping(this.input.value.trim().length > 0);
    });
    this.input.addEventListener('blur', () => opts.onTyping(false));
    this.ended = h('div', { class: 'ended', hidden: true });
    this.element = h('div', { class: 'chat' }, this.log, this.typingLine, this.composer, this.ended);
  }

  /** @param {string} text the welcome message (Markdown subset) */
  setWelcome(text) {
    const bubble = this.welcome.querySelector('.bubble');
    bubble.replaceChildren(renderMarkdown(text || ''));
    this.welcome.hidden = !text;
  }

  autosize() {
    this.input.style.height = 'auto';
    this.input.style.height = `${Math.min(this.input.scrollHeight, 120)}px`;
  }

  submit() {
    const text = this.input.value;
    if (!text.trim() || this.input.disabled) return;
    this.input.value = '';
    this.autosize();
    this.toggleEmoji(false);
    this.opts.onSend(text);
    this.input.focus();
  }

  insert(emoji) {
    const { selectionStart: s, selectionEnd: e, value } = this.input;
    const at = Number.isInteger(s) ? s : value.length;
    this.input.value = value.slice(0, at) + emoji + value.slice(Number.isInteger(e) ? e : at);
    this.toggleEmoji(false);
    this.input.focus();
    this.input.selectionStart = this.input.selectionEnd = at + emoji.length;
    this.autosize();
  }

  /** @param {boolean} [show] */
  toggleEmoji(show = this.picker.element.hidden) {
    this.picker.element.hidden = !show;
    this.emojiButton.setAttribute('aria-expanded', String(show));
    if (show) this.picker.focus();
    else if (this.picker.element.contains(this.element.getRootNode().activeElement)) this.emojiButton.focus();
  }

  /** Closes the picker if open; true if it was. */
  closePopups() {
    if (this.picker.element.hidden) return false;
    this.toggleEmoji(false);
    return true;
  }

  focus() {
    if (!this.input.disabled) this.input.focus();
  }

  atBottom() {
    return this.log.scrollHeight - this.log.scrollTop - this.log.clientHeight < 40;
  }

  scrollToEnd() {
    this.log.scrollTop = this.log.scrollHeight;
  }

  /** The first pending item: committed items go before it. */
  firstPending() {
    return this.log.querySelector(':scope > li.pending');
  }

  place(li, seq) {
    let before = this.firstPending();
    // Keep seq order even if an older message arrives late.
    let prev = before ? before.previousElementSibling : this.log.lastElementChild;
    while (prev && prev.dataset.seq && Number(prev.dataset.seq) > seq) {
      before = prev;
      prev = prev.previousElementSibling;
    }
    this.log.insertBefore(li, before);
  }

  /**
   * Adds or updates a committed message; a pending item with the same
   * client_msg_id becomes it (so the bubble stays where the visitor saw it).
   * @param {Message} m
   * @param {boolean} own sent by this visitor
   */
  upsert(m, own) {
    const key = `s${m.seq}`;
    if (this.items.has(key)) return;
    const stick = this.atBottom();
    const pendingKey = m.client_msg_id ? `c${m.client_msg_id}` : null;
    const pending = pendingKey && this.items.get(pendingKey);
    const li = this.render(m, own);
    if (pending) {
      this.items.delete(pendingKey);
      pending.remove();
    }
    this.place(li, m.seq);
    this.items.set(key, li);
    this.labelSender(li);
    if (own) this.updateStatus(li);
    if (stick || own) this.scrollToEnd();
  }

  /**
   * Shows a message that is not acknowledged yet.
   * @param {{client_msg_id: string, text: string, created_at: string, failed?: string}} item
   * @param {'pending'|'queued'|'failed'} status
   */
  addPending(item, status) {
    const key = `c${item.client_msg_id}`;
    let li = this.items.get(key);
    if (!li) {
      li = this.render({ seq: 0, text: item.text, created_at: item.created_at, sender: { kind: 'customer' } }, true);
      li.classList.add('pending');
      li.dataset.cid = item.client_msg_id;
      this.log.append(li);
      this.items.set(key, li);
    }
    this.setPendingStatus(item.client_msg_id, status);
    this.scrollToEnd();
  }

  /** @param {string} clientMsgId @param {'pending'|'queued'|'failed'} status */
  setPendingStatus(clientMsgId, status) {
    const li = this.items.get(`c${clientMsgId}`);
    if (!li) return;
    const meta = li.querySelector('.meta');
    meta.querySelector('.status, .retry')?.remove();
    li.classList.toggle('failed', status === 'failed');
    if (status === 'failed') {
      meta.append(h('button', {
        type: 'button',
        class: 'retry',
        onclick: () => this.opts.onRetry(clientMsgId),
      }, icon('alert'), this.t.failed));
    } else {
      const label = status === 'queued' ? this.t.queued : this.t.sending;
      meta.append(h('span', { class: 'status', 'data-status': status, role: 'img', 'aria-label': label, title: label }, icon('clock')));
    }
  }

  /**
   * @param {Message} m
   * @param {boolean} own
   */
  render(m, own) {
    const kind = own ? 'me' : m.sender.kind === 'system' ? 'system' : m.sender.kind === 'bot' ? 'them bot' : 'them';
    const li = h('li', { class: `msg ${kind}`, 'data-seq': m.seq || null, 'data-sender': `${m.sender.kind}:${m.sender.id ?? ''}` });
    if (m.sender.kind === 'system') {
      li.append(h('div', { class: 'note', text: m.text }));
      return li;
    }
    const bubble = h('div', { class: 'bubble' });
    bubble.append(renderMarkdown(m.text));
    li.append(bubble, h('div', { class: 'meta' }, h('time', { datetime: m.created_at || null, text: timeOf(m.created_at) })));
    return li;
  }

  /** Names the sender above the first of a run of its messages. */
  labelSender(li) {
    if (li.classList.contains('me') || li.classList.contains('system')) return;
    const prev = li.previousElementSibling;
    if (prev && prev.dataset.sender === li.dataset.sender) return;
    const [kind] = li.dataset.sender.split(':');
    const m = this.senderNames?.get(li.dataset.sender);
    const name = m || (kind === 'bot' ? this.t.bot : this.t.agent);
    const who = h('div', { class: 'who' }, name);
    if (kind === 'bot') who.append(h('span', { class: 'badge', text: this.t.bot }));
    li.prepend(who);
  }

  /**
   * Remembers a sender's display name (for the label above its bubbles).
   * @param {Message} m
   */
  rememberSender(m) {
    this.senderNames ??= new Map();
    if (m.sender.name) this.senderNames.set(`${m.sender.kind}:${m.sender.id ?? ''}`, m.sender.name);
  }

  /**
   * The staff side's receipts for the visitor's messages.
   * @param {{delivered?: number, read?: number}} marks
   */
  setMarks(marks) {
    this.marks.delivered = Math.max(this.marks.delivered, marks.delivered ?? 0, marks.read ?? 0);
    this.marks.read = Math.max(this.marks.read, marks.read ?? 0);
    for (const li of this.log.querySelectorAll(':scope > li.me[data-seq]')) this.updateStatus(li);
  }

  updateStatus(li) {
    const seq = Number(li.dataset.seq);
    const status = seq <= this.marks.read ? 'read' : seq <= this.marks.delivered ? 'delivered' : 'sent';
    const meta = li.querySelector('.meta');
    const current = meta.querySelector('.status');
    if (current && current.dataset.status === status) return;
    current?.remove();
    meta.querySelector('.retry')?.remove();
    const label = this.t[status];
    meta.append(h('span', { class: 'status', 'data-status': status, role: 'img', 'aria-label': label, title: label },
      icon(status === 'sent' ? 'check' : 'checks')));
  }

  /** A line from the widget itself (joined, left message…), not stored. */
  note(text) {
    const li = h('li', { class: 'msg system local' }, h('div', { class: 'note', text }));
    this.log.insertBefore(li, this.firstPending());
    this.scrollToEnd();
  }

  /** @param {string|null} name who is typing, or null */
  showTyping(name) {
    this.typingLine.replaceChildren();
    if (name) {
      this.typingLine.append(h('span', { class: 'dots', 'aria-hidden': 'true' }, h('i'), h('i'), h('i')), this.t.typing(name));
    }
    this.typingLine.hidden = !name;
  }

  /**
   * Shows or hides the end panel.
   * @param {boolean} closed
   * @param {{rated: boolean, canDownload: boolean}} state
   */
  setClosed(closed, { rated, canDownload }) {
    this.input.disabled = closed;
    this.sendButton.disabled = closed;
    this.emojiButton.disabled = closed;
    this.composer.hidden = closed;
    this.ended.hidden = !closed;
    if (!closed) return;
    this.toggleEmoji(false);
    this.showTyping(null);
    const t = this.t;
    const thanks = h('p', { class: 'thanks', role: 'status', text: t.thanks, hidden: !rated });
    let rating = null;
    if (!rated) {
      rating = createRating({
        t,
        onSubmit: async (score, comment) => {
          rating.setBusy(true);
          try {
            await this.opts.onRate(score, comment);
            rating.element.remove();
            thanks.hidden = false;
          } catch (e) {
            rating.setBusy(false);
            rating.showError(e.message);
          }
        },
      });
    }
    const actions = h('div', { class: 'actions' },
      canDownload && h('button', { type: 'button', class: 'link', text: t.downloadText, onclick: () => this.opts.onDownload('text') }),
      canDownload && h('button', { type: 'button', class: 'link', text: t.downloadHtml, onclick: () => this.opts.onDownload('html') }),
      h('button', { type: 'button', class: 'secondary', text: t.newChat, onclick: () => this.opts.onNewChat() }));
    this.ended.replaceChildren(h('p', { class: 'ended-title', text: t.ended }), rating?.element, thanks, actions);
    this.scrollToEnd();
  }
}
