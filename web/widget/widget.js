// The Switchboard widget: a <switchboard-widget> host with a shadow root,
// a launcher (or an inline panel), and the controller that ties the views
// (forms.js, chat.js) to the server (api.js, connection.js) and to what
// survives a page load (storage.js). Loaded by switchboard.js.

import { h, icon } from './dom.js';
import { CSS } from './styles.js';
import { strings } from './i18n.js';
import { ApiError, createApi } from './api.js';
import { createStorage } from './storage.js';
import { Connection } from './connection.js';
import { Outbox } from './outbox.js';
import { ChatView } from './chat.js';
import { createForm, customFields } from './forms.js';

const TAG = 'switchboard-widget';
/** An agent's "typing" that never got its "stopped" fades after this. */
const TYPING_FADE_MS = 10000;
/** The visitor stops "typing" after this long without a keystroke. */
const TYPING_IDLE_MS = 4000;
/** Availability older than this is fetched again when the panel opens. */
const AVAILABILITY_TTL_MS = 30000;

const DEFAULTS = {
  title: 'Chat with us',
  welcome_message: 'Hi! How can we help?',
  primary_color: '#2563eb',
  logo_url: null,
  position: 'right',
  pre_chat_fields: [],
  offline_message: "We're away right now. Leave a message and we'll get back to you by e-mail.",
};

/** The host element; all behaviour lives in the controller. */
class SwitchboardElement extends HTMLElement {}
if (!customElements.get(TAG)) customElements.define(TAG, SwitchboardElement);

let instances = 0;

/** `#rrggbb` or null. */
function color(value) {
  return typeof value === 'string' && /^#[0-9a-f]{6}$/i.test(value) ? value.toLowerCase() : null;
}

/** Black or white text, whichever reads better on `hex`. */
function onColor(hex) {
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255)
    .map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
  return 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.45 ? '#111111' : '#ffffff';
}

/** An http(s) URL for an <img>, or null. */
function imageUrl(value) {
  try {
    const url = new URL(String(value));
    return url.protocol === 'https:' || url.protocol === 'http:' ? url.href : null;
  } catch {
    return null;
  }
}

/** `preview: 'prechat' | 'offline'` shows that form; any other truthy value the chat. */
function previewScreen(value) {
  return value === 'prechat' || value === 'offline' ? value : 'chat';
}

/** The language tag to send: the option, else the browser's primary subtag. */
function languageTag(option) {
  const tag = option || (navigator.language || '').split('-')[0];
  return typeof tag === 'string' && /^[A-Za-z0-9-]{1,16}$/.test(tag) ? tag : undefined;
}

class Widget {
  constructor(options) {
    instances += 1;
    this.uid = `sbw${instances}`;
    this.options = { ...options };
    this.mode = options.mode === 'inline' ? 'inline' : 'launcher';
    this.preview = Boolean(options.preview);
    /** Which screen a preview shows: the chat, the pre-chat form, or the offline form. */
    this.previewScreen = previewScreen(options.preview);
    this.server = String(options.server).replace(/\/?$/, '/');
    this.t = strings(options.language || navigator.language);
    this.api = createApi(this.server);
    this.store = createStorage(this.server);
    this.settings = { ...DEFAULTS };
    this.availability = null;
    this.availabilityAt = 0;
    this.expectedWait = null;
    this.view = null;
    this.isOpen = false;
    this.timers = new Set();
    this.session = this.preview ? null : this.store.loadSession();
    this.outbox = new Outbox({
      items: this.preview ? [] : this.store.loadOutbox(),
      save: (items) => this.store.saveOutbox(items),
      send: (frame) => this.connection?.send(frame) ?? false,
      status: (id, status) => this.chat?.setPendingStatus(id, status),
    });
    this.resetConversation();
    this.onVisibility = () => this.markRead();
    this.build();
    this.applyTheme();
    this.attach();
    document.addEventListener('visibilitychange', this.onVisibility);
    if (this.preview) this.showPreview();
    else this.start();
    const ui = this.preview ? {} : this.store.loadUi();
    if (this.mode === 'inline' || options.open || ui.open) this.open({ focus: false });
  }

  resetConversation() {
    this.messages = new Set();
    this.lastSeq = 0;
    this.staffSeqs = [];
    this.customerRead = 0;
    this.conv = null;
    this.agentName = null;
    this.assigneeId = null;
    this.joinedNote = false;
    this.typingSent = false;
    this.lastReadSent = 0;
  }

  later(fn, ms) {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
    return t;
  }

  cancel(t) {
    clearTimeout(t);
    this.timers.delete(t);
  }

  // ---------------------------------------------------------------- shell

  build() {
    const t = this.t;
    this.host = document.createElement(TAG);
    this.host.dataset.mode = this.mode;
    this.root = this.host.attachShadow({ mode: 'open' });
    const style = document.createElement('style');
    style.textContent = CSS;
    this.badge = h('span', { class: 'badge-count', 'aria-hidden': 'true', hidden: true });
    this.launcher = h('button', {
      type: 'button',
      class: 'launcher',
      'aria-label': t.open,
      'aria-expanded': 'false',
      'aria-controls': `${this.uid}-panel`,
      onclick: () => this.open(),
    }, icon('chat'), this.badge);
    this.logo = h('img', { class: 'logo', alt: '', hidden: true });
    this.titleEl = h('h2', { class: 'title', id: `${this.uid}-title` });
    this.subEl = h('p', { class: 'sub' });
    this.menuButton = h('button', {
      type: 'button',
      class: 'icon-button',
      'aria-label': t.menu,
      'aria-haspopup': 'menu',
      'aria-expanded': 'false',
      hidden: true,
      onclick: () => this.toggleMenu(),
    }, icon('more'));
    this.closeButton = h('button', {
      type: 'button',
      class: 'icon-button',
      'aria-label': t.close,
      hidden: this.mode === 'inline',
      onclick: () => this.close(),
    }, icon('close'));
    this.menu = h('div', { class: 'menu', role: 'menu', hidden: true });
    this.menu.addEventListener('keydown', (e) => this.menuKeys(e));
    this.confirmBar = h('div', { class: 'confirm', hidden: true });
    this.banner = h('div', { class: 'banner', role: 'status', hidden: true });
    this.body = h('div', { class: 'body' }, h('p', { class: 'center', text: '…' }));
    this.panel = h('section', {
      class: 'panel',
      id: `${this.uid}-panel`,
      role: 'dialog',
      'aria-labelledby': `${this.uid}-title`,
      'aria-modal': 'false',
      hidden: this.mode !== 'inline',
    },
    h('header', { class: 'head' }, this.logo, h('div', { class: 'titles' }, this.titleEl, this.subEl), this.menuButton, this.closeButton),
    h('div', { class: 'panel-wrap' }, this.menu, this.confirmBar, this.banner, this.body));
    this.panel.addEventListener('keydown', (e) => {
      if (e.key !== 'Escape') return;
      if (this.chat?.closePopups()) return;
      if (!this.menu.hidden) {
        this.toggleMenu(false);
        return;
      }
      if (this.mode === 'launcher') {
        e.preventDefault();
        this.close();
      }
    });
    this.rootEl = h('div', { class: 'sb', 'data-mode': this.mode }, this.mode === 'launcher' ? this.launcher : null, this.panel);
    this.root.append(style, this.rootEl);
  }

  attach() {
    if (this.mode === 'inline') {
      const target = typeof this.options.target === 'string' ? document.querySelector(this.options.target) : this.options.target;
      if (!(target instanceof Element)) throw new Error('Switchboard: inline mode needs a `target` element or selector');
      target.append(this.host);
      return;
    }
    (document.body || document.documentElement).append(this.host);
    // The top layer sits above any z-index and ignores ancestors' transforms,
    // so no stacking context the page creates can bury the launcher.
    if (typeof this.host.showPopover === 'function') {
      this.host.setAttribute('popover', 'manual');
      try {
        this.host.showPopover();
      } catch {
        // Already shown, or not connected: the z-index still applies.
      }
    }
  }

  /** The merged look: admin settings overridden by init options. */
  applyTheme() {
    const o = this.options;
    const s = this.settings;
    const pick = (k) => (o[k] !== undefined && o[k] !== null ? o[k] : s[k]);
    this.theme = {
      title: String(pick('title') || DEFAULTS.title),
      welcome_message: String(pick('welcome_message') ?? ''),
      primary_color: color(pick('primary_color')) || DEFAULTS.primary_color,
      logo_url: imageUrl(pick('logo_url')),
      position: pick('position') === 'left' ? 'left' : 'right',
      pre_chat_fields: Array.isArray(o.pre_chat_fields) ? o.pre_chat_fields : s.pre_chat_fields || [],
      offline_message: String(s.offline_message || DEFAULTS.offline_message),
      issue_types: Array.isArray(o.issue_types) ? o.issue_types.map(String).filter(Boolean) : [],
    };
    const th = this.theme;
    this.rootEl.style.setProperty('--sb-primary', th.primary_color);
    this.rootEl.style.setProperty('--sb-on-primary', onColor(th.primary_color));
    this.rootEl.dataset.position = th.position;
    this.host.dataset.position = th.position;
    this.titleEl.textContent = th.title;
    this.logo.hidden = !th.logo_url;
    if (th.logo_url) this.logo.src = th.logo_url;
    else this.logo.removeAttribute('src');
    this.chat?.setWelcome(th.welcome_message);
    this.renderSubtitle();
  }

  renderSubtitle() {
    const t = this.t;
    let text = '';
    if (this.view === 'chat' && this.conv) {
      if (this.conv.state === 'closed') text = t.ended;
      else if (this.agentName && this.conv.state === 'assigned') text = t.chattingWith(this.agentName);
      else text = t.waiting;
    } else if (this.view === 'prechat') {
      text = this.expectedWait > 60 ? t.waitAbout(Math.round(this.expectedWait / 60)) : t.replyFast;
    }
    this.subEl.textContent = text;
    this.subEl.hidden = !text;
  }

  setBody(node) {
    this.body.replaceChildren(node);
  }

  // ---------------------------------------------------------- open/close

  /** Opens the panel. */
  open({ focus = true } = {}) {
    if (this.isOpen && this.mode === 'launcher') return;
    this.isOpen = true;
    this.rootEl.dataset.open = '';
    this.host.dataset.open = '';
    this.panel.hidden = false;
    this.launcher.setAttribute('aria-expanded', 'true');
    if (!this.preview) this.store.saveUi({ ...this.store.loadUi(), open: true });
    if ((this.view === 'prechat' || this.view === 'offline') && Date.now() - this.availabilityAt > AVAILABILITY_TTL_MS) {
      // Someone may have come online (or left): switch forms only if so,
      // so nothing the visitor already typed is thrown away.
      const was = this.availability?.available;
      this.loadSettings().then(() => {
        if (this.availability?.available !== was) this.showStartView();
      });
    }
    this.chat?.scrollToEnd();
    if (focus) this.focusView();
    this.markRead();
  }

  /** Closes the panel (launcher mode). */
  close() {
    if (this.mode === 'inline' || !this.isOpen) return;
    const hadFocus = this.root.activeElement !== null;
    this.isOpen = false;
    this.focusPending = false;
    delete this.rootEl.dataset.open;
    delete this.host.dataset.open;
    this.panel.hidden = true;
    this.toggleMenu(false);
    this.launcher.setAttribute('aria-expanded', 'false');
    if (!this.preview) this.store.saveUi({ ...this.store.loadUi(), open: false });
    if (hadFocus) this.launcher.focus();
    this.renderBadge();
  }

  /** Focuses the view's first control; if the view is still loading, it
   * takes the focus when it appears (unless the panel was closed). */
  focusView() {
    this.focusPending = !this.chat && !this.form;
    if (this.view === 'chat') this.chat?.focus();
    else this.form?.focus();
  }

  toggleMenu(show = this.menu.hidden) {
    this.menu.hidden = !show;
    this.menuButton.setAttribute('aria-expanded', String(show));
    if (!show) return;
    const t = this.t;
    const closed = this.conv?.state === 'closed';
    const item = (text, fn, disabled = false) => h('button', { type: 'button', role: 'menuitem', text, disabled, onclick: () => { this.toggleMenu(false); fn(); } });
    this.menu.replaceChildren(
      !closed && item(t.endChat, () => this.askEnd()),
      item(t.downloadText, () => this.download('text')),
      item(t.downloadHtml, () => this.download('html')),
    );
    this.menu.querySelector('button')?.focus();
  }

  menuKeys(e) {
    const items = [...this.menu.querySelectorAll('button')];
    const i = items.indexOf(this.root.activeElement);
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      items[(i + (e.key === 'ArrowDown' ? 1 : items.length - 1)) % items.length]?.focus();
    } else if (e.key === 'Escape' || e.key === 'Tab') {
      this.toggleMenu(false);
      this.menuButton.focus();
    }
  }

  // --------------------------------------------------------------- start

  async start() {
    if (this.session) this.enterChat();
    else this.setBody(h('p', { class: 'center', role: 'status', text: '…' }));
    await this.loadSettings();
    if (!this.session) this.showStartView();
  }

  /** Fetches settings and availability; false if the server is unreachable. */
  async loadSettings() {
    try {
      const res = await this.api.init({ language: languageTag(this.options.language) });
      this.settings = { ...DEFAULTS, ...res.settings };
      this.availability = res.availability;
      this.expectedWait = res.expected_wait_s;
      this.availabilityAt = Date.now();
      this.applyTheme();
      return true;
    } catch {
      return false;
    }
  }

  showStartView() {
    if (this.session || this.destroyed) return;
    this.chat = null;
    this.menuButton.hidden = true;
    if (!this.availability) {
      this.view = 'error';
      const retry = h('button', { type: 'button', class: 'secondary', text: this.t.retry, onclick: () => this.start() });
      this.setBody(h('div', { class: 'center', role: 'alert' }, h('p', { text: this.t.unreachable }), retry));
    } else if (this.availability.available) {
      this.showPreChat();
    } else {
      this.showOffline();
    }
    this.renderSubtitle();
    if (this.isOpen && this.focusPending) this.focusView();
  }

  issueField(required) {
    const types = this.theme.issue_types;
    return types.length ? [{ name: 'issue_type', label: this.t.issueType, type: 'select', options: types, required }] : [];
  }

  showPreChat() {
    const t = this.t;
    this.view = 'prechat';
    const fields = [
      { name: 'name', label: t.name, required: true, autocomplete: 'name', maxlength: 100 },
      { name: 'email', label: this.options.require_email ? t.email : t.emailOptional, type: 'email', required: Boolean(this.options.require_email), autocomplete: 'email', maxlength: 254 },
      ...this.issueField(true),
      ...customFields(this.theme.pre_chat_fields),
      { name: 'message', label: t.firstMessage, type: 'textarea', maxlength: 4000 },
    ];
    this.form = createForm({
      fields,
      submit: t.startChat,
      t,
      intro: this.theme.welcome_message,
      onSubmit: (v) => this.startChat(v),
    });
    this.setBody(this.form.element);
  }

  showOffline() {
    const t = this.t;
    this.view = 'offline';
    const fields = [
      { name: 'name', label: t.name, autocomplete: 'name', maxlength: 100 },
      { name: 'email', label: t.email, type: 'email', required: true, autocomplete: 'email', maxlength: 254 },
      ...this.issueField(false),
      { name: 'message', label: t.yourMessage, type: 'textarea', required: true, maxlength: 4000 },
    ];
    this.form = createForm({
      fields,
      submit: t.sendMessage,
      t,
      intro: this.theme.offline_message,
      onSubmit: (v) => this.leaveMessage(v),
    });
    this.setBody(h('div', { class: 'offline-view' }, h('p', { class: 'vh', text: t.leaveMessage }), this.form.element));
  }

  /** What every conversation start tells the server. */
  facts(values) {
    const page = /^https?:$/.test(location.protocol) ? `${location.origin}${location.pathname}`.slice(0, 1000) : undefined;
    const custom = values.custom_fields || {};
    return {
      name: values.name,
      email: values.email,
      issue_type: values.issue_type,
      language: languageTag(this.options.language),
      custom_fields: Object.keys(custom).length ? custom : undefined,
      page_url: page,
    };
  }

  async startChat(values) {
    // A preview's forms send nothing.
    if (this.preview) return;
    this.form.setBusy(true);
    try {
      const res = await this.api.startSession(this.facts(values));
      this.session = { token: res.visitor_token, conversation_id: res.conversation_id, visitor_id: res.visitor_id, name: values.name };
      this.store.saveSession(this.session);
      this.conv = { state: res.conversation.state };
      // Assignment often happens before the socket is up, so no frame
      // announces it: the first look at the conversation does.
      this.joinedNote = true;
      if (values.message) this.queueMessage(values.message, { silent: true });
      this.enterChat();
    } catch (e) {
      this.form.setBusy(false);
      this.form.showErrors(this.problemText(e), e.problem?.errors);
    }
  }

  async leaveMessage(values) {
    if (this.preview) return;
    this.form.setBusy(true);
    try {
      const res = await this.api.leaveMessage({ ...this.facts(values), text: values.message });
      this.session = { token: res.visitor_token, conversation_id: res.conversation_id, name: values.name, offline: true };
      this.store.saveSession(this.session);
      this.enterChat();
      this.chat.note(res.confirmation || this.t.leftMessage);
    } catch (e) {
      this.form.setBusy(false);
      this.form.showErrors(this.problemText(e), e.problem?.errors);
    }
  }

  problemText(e) {
    return e instanceof ApiError && e.status !== 0 ? e.message : this.t.unreachable;
  }

  // ---------------------------------------------------------------- chat

  newChatView() {
    this.chat = new ChatView({
      t: this.t,
      onSend: (text) => this.queueMessage(text),
      onRetry: (id) => this.retry(id),
      onTyping: (typing) => this.typing(typing),
      onRate: (score, comment) => this.rate(score, comment),
      onDownload: (format) => this.download(format),
      onNewChat: () => this.newChat(),
    });
    this.chat.setWelcome(this.theme.welcome_message);
    this.view = 'chat';
    this.form = null;
    this.setBody(this.chat.element);
  }

  enterChat() {
    this.newChatView();
    this.menuButton.hidden = false;
    for (const item of this.outbox.items) this.chat.addPending(item, item.failed ? 'failed' : 'queued');
    this.connection = new Connection({
      url: `${this.server.replace(/^http/, 'ws')}ws/v1/customer`,
      token: this.session.token,
      lastSeq: () => this.lastSeq,
    });
    this.connection.addEventListener('frame', (e) => this.onFrame(e.detail));
    this.connection.addEventListener('state', (e) => this.onState(e.detail));
    this.connection.addEventListener('failure', (e) => {
      // A token the server no longer knows looks like a network error on a
      // WebSocket; ask over REST now and then.
      if (e.detail.attempts % 3 === 0) this.refreshConversation();
    });
    this.connection.start();
    this.refreshConversation();
    if (this.isOpen) this.chat.focus();
    this.renderSubtitle();
  }

  /** Reads state, agent, marks and rating over REST (after a reload, a change). */
  async refreshConversation() {
    if (!this.session) return;
    const token = this.session.token;
    try {
      const c = await this.api.conversation(token);
      if (!this.session || this.session.token !== token) return;
      this.conv = { ...this.conv, ...c };
      this.assigneeId = c.agent?.id ?? this.assigneeId;
      this.agentName = c.agent?.name || this.agentName;
      this.customerRead = Math.max(this.customerRead, c.customer_read_seq);
      this.chat?.setMarks({ read: c.agent_read_seq });
      if (this.joinedNote && c.state === 'assigned' && c.agent) {
        this.chat?.note(this.t.joined(c.agent.name));
        this.joinedNote = false;
      }
      this.renderClosed();
      this.renderBadge();
      this.renderSubtitle();
    } catch (e) {
      if (e instanceof ApiError && (e.status === 401 || e.status === 404)) this.expireSession();
    }
  }

  /** The stored token no longer works: start over with the form. */
  expireSession() {
    this.connection?.stop();
    this.connection = null;
    this.store.clearSession();
    this.session = null;
    this.outbox.stop();
    this.outbox.items = [];
    this.resetConversation();
    this.loadSettings().then(() => this.showStartView());
  }

  /** Shows or hides the end panel; redraws only on a change, so a comment
   * being typed into the rating form is never wiped by a refresh. */
  renderClosed() {
    if (!this.chat) return;
    const closed = this.conv?.state === 'closed';
    const key = `${closed}:${Boolean(this.conv?.csat)}`;
    if (this.chat.closedKey === key) return;
    // A rating given in this panel shows its thanks in place.
    if (this.chat.closedKey === 'true:false' && key === 'true:true') {
      this.chat.closedKey = key;
      return;
    }
    this.chat.closedKey = key;
    this.chat.setClosed(closed, { rated: Boolean(this.conv?.csat), canDownload: true });
  }

  onState(state) {
    const t = this.t;
    if (state === 'ready') {
      this.banner.hidden = true;
      this.hadReady = true;
      this.outbox.flush();
      this.markRead();
      // The socket follows changes from now on; whatever changed before it
      // connected (an assignment, a close) is read once more.
      this.refreshConversation();
      return;
    }
    // Whatever was in flight is resent (same client_msg_id) after the next resume.
    this.outbox.interrupted();
    if (state === 'offline') {
      this.banner.textContent = t.offlineNow;
      this.banner.hidden = false;
    } else if (state === 'connecting' && (this.hadReady || this.connection?.attempts > 1)) {
      this.banner.textContent = t.reconnecting;
      this.banner.hidden = false;
    }
  }

  onFrame(f) {
    switch (f.type) {
      case 'message.new':
      case 'message.ack':
        if (f.message) this.addMessage(f.message);
        break;
      case 'receipt':
        if (f.by?.kind === 'customer') {
          if (f.kind === 'read') this.customerRead = Math.max(this.customerRead, f.up_to_seq);
          this.renderBadge();
        } else {
          this.chat?.setMarks({ [f.kind]: f.up_to_seq });
        }
        break;
      case 'typing':
        if (f.by?.kind !== 'customer') this.showTyping(f.is_typing ? f.by?.name || this.agentName || this.t.agent : null);
        break;
      case 'conversation.updated':
      case 'conversation.assigned':
        if (f.conversation) this.conversationChanged(f.conversation);
        break;
      case 'error':
        this.outbox.refused(f);
        break;
      default:
        break;
    }
  }

  conversationChanged(c) {
    if (c.state === 'assigned' && c.assignee_id && c.assignee_id !== this.assigneeId) {
      // A new agent: its name comes with the refresh below.
      this.agentName = null;
      this.joinedNote = true;
    }
    this.assigneeId = c.assignee_id;
    this.conv = { ...this.conv, state: c.state, closed_reason: c.closed_reason, csat: c.csat ?? this.conv?.csat };
    this.renderClosed();
    this.renderSubtitle();
    // The agent's name and the read marks are not in the frame.
    this.refreshConversation();
  }

  addMessage(m) {
    if (!this.session || m.conversation_id !== this.session.conversation_id || this.messages.has(m.seq)) return;
    this.messages.add(m.seq);
    this.lastSeq = Math.max(this.lastSeq, m.seq);
    const own = m.sender.kind === 'customer';
    if (own && m.client_msg_id) this.outbox.settled(m.client_msg_id);
    this.chat?.rememberSender(m);
    this.chat?.upsert(m, own);
    if (own) return;
    if (m.sender.kind === 'agent' && m.sender.name) {
      this.agentName = m.sender.name;
      this.renderSubtitle();
    }
    this.showTyping(null);
    if (m.sender.kind !== 'system') this.staffSeqs.push(m.seq);
    this.markRead();
    this.renderBadge();
  }

  showTyping(name) {
    this.cancel(this.typingFade);
    this.chat?.showTyping(this.conv?.state === 'closed' ? null : name);
    if (name) this.typingFade = this.later(() => this.chat?.showTyping(null), TYPING_FADE_MS);
  }

  unread() {
    return this.staffSeqs.filter((s) => s > this.customerRead).length;
  }

  renderBadge() {
    const n = this.isOpen ? 0 : this.unread();
    this.badge.hidden = n === 0;
    this.badge.textContent = n > 99 ? '99+' : String(n);
    this.launcher.setAttribute('aria-label', n ? `${this.t.open} (${this.t.unread(n)})` : this.t.open);
  }

  /** Tells the server the visitor has seen everything, when it really has. */
  markRead() {
    if (!this.isOpen || document.hidden || this.view !== 'chat' || !this.connection) return;
    if (this.lastSeq <= this.lastReadSent || !this.unread()) return;
    if (this.connection.send({ type: 'read', up_to_seq: this.lastSeq })) {
      this.lastReadSent = this.lastSeq;
      this.customerRead = Math.max(this.customerRead, this.lastSeq);
      this.renderBadge();
    }
  }

  typing(active) {
    if (!this.connection || this.conv?.state === 'closed') return;
    this.cancel(this.typingIdle);
    if (active) this.typingIdle = this.later(() => this.typing(false), TYPING_IDLE_MS);
    if (active === this.typingSent) return;
    if (this.connection.send({ type: 'typing', is_typing: active })) this.typingSent = active;
  }

  // ---------------------------------------------------------- the outbox

  queueMessage(text, { silent = false } = {}) {
    if (this.preview) {
      this.previewSeq += 1;
      this.chat.upsert({ seq: this.previewSeq, text, created_at: new Date().toISOString(), sender: { kind: 'customer' } }, true);
      return;
    }
    const item = this.outbox.add(text);
    if (!silent) this.chat?.addPending(item, 'queued');
    this.typing(false);
    this.outbox.flush();
  }

  retry(clientMsgId) {
    this.outbox.retry(clientMsgId);
  }

  // ------------------------------------------------------ end and after

  askEnd() {
    const t = this.t;
    const yes = h('button', {
      type: 'button',
      class: 'primary',
      text: t.endChat,
      onclick: () => {
        this.confirmBar.hidden = true;
        if (!this.connection?.send({ type: 'conversation.close', ref: 'close' })) this.chat?.note(t.reconnecting);
      },
    });
    const no = h('button', { type: 'button', class: 'secondary', text: t.cancel, onclick: () => { this.confirmBar.hidden = true; this.chat?.focus(); } });
    this.confirmBar.replaceChildren(h('p', { text: t.endConfirm }), yes, no);
    this.confirmBar.hidden = false;
    yes.focus();
  }

  async rate(score, comment) {
    const csat = await this.api.rate(this.session.token, score, comment || undefined);
    this.conv = { ...this.conv, csat };
  }

  async download(format) {
    if (this.preview || !this.session) return;
    try {
      const { blob, name } = await this.api.transcript(this.session.token, format);
      const url = URL.createObjectURL(blob);
      const a = h('a', { href: url, download: name, hidden: true });
      this.root.append(a);
      a.click();
      a.remove();
      this.later(() => URL.revokeObjectURL(url), 60000);
    } catch (e) {
      this.chat?.note(this.problemText(e));
    }
  }

  newChat() {
    this.connection?.stop();
    this.connection = null;
    this.store.clearSession();
    this.session = null;
    this.outbox.stop();
    this.outbox.items = [];
    this.resetConversation();
    this.chat = null;
    this.view = null;
    this.menuButton.hidden = true;
    this.setBody(h('p', { class: 'center', role: 'status', text: '…' }));
    this.loadSettings().then(() => {
      this.showStartView();
      this.form?.focus();
    });
  }

  // ------------------------------------------------------------- preview

  showPreview() {
    const t = this.t;
    if (this.previewScreen === 'prechat') {
      this.showPreChat();
      return;
    }
    if (this.previewScreen === 'offline') {
      this.showOffline();
      return;
    }
    this.newChatView();
    this.conv = { state: 'assigned' };
    this.agentName = t.previewAgent;
    const now = Date.now();
    const at = (min) => new Date(now - min * 60000).toISOString();
    const agent = { kind: 'agent', id: 0, name: t.previewAgent };
    this.chat.rememberSender({ sender: agent });
    this.chat.upsert({ seq: 1, text: t.previewCustomer, created_at: at(3), sender: { kind: 'customer' } }, true);
    this.chat.upsert({ seq: 2, text: t.previewReply, created_at: at(2), sender: agent }, false);
    this.chat.setMarks({ read: 1 });
    this.chat.showTyping(t.previewAgent);
    this.previewSeq = 2;
    this.menuButton.hidden = true;
    this.renderSubtitle();
  }

  // ---------------------------------------------------------- public API

  update(options) {
    Object.assign(this.options, options || {});
    if (options && 'language' in options) this.t = strings(options.language || navigator.language);
    this.applyTheme();
    if (this.preview && options && 'preview' in options && previewScreen(options.preview) !== this.previewScreen) {
      this.previewScreen = previewScreen(options.preview);
      this.resetConversation();
      this.showPreview();
    } else if (this.view === 'prechat') this.showPreChat();
    else if (this.view === 'offline') this.showOffline();
  }

  destroy() {
    this.destroyed = true;
    this.connection?.stop();
    this.outbox.stop();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    document.removeEventListener('visibilitychange', this.onVisibility);
    this.host.remove();
  }

  handle() {
    return {
      open: () => this.open(),
      close: () => this.close(),
      destroy: () => this.destroy(),
      update: (options) => this.update(options),
    };
  }
}

/**
 * Mounts one widget. `options.server` (base URL) is required here; the
 * loader fills it in from its own address.
 * @param {Record<string, any>} options the `Switchboard.init` options
 * @returns {{open(): void, close(): void, destroy(): void, update(options: object): void}}
 */
export function mount(options) {
  return new Widget(options).handle();
}
