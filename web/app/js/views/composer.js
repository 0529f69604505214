// The composer: replies to the customer or internal notes (visibly
// different, never sent to the customer), with macros: type `/` and a few
// letters of a macro's title, pick it with the arrow keys and Enter.

import { h, icon, replace } from '../dom.js';
import * as live from '../live.js';
import { fillMacro } from '../format.js';

/** Stop "typing" this long after the last key. */
const TYPING_IDLE = 3000;
/** Repeat "typing" at most this often while keys keep coming. */
const TYPING_EVERY = 2500;
/** A `/` at the start or after a space, then the search, up to the caret. */
const SLASH = /(^|\s)\/([^\s/]{0,40})$/;

let nextId = 1;

/** `<sb-composer conversation-id="42">` */
export class Composer extends HTMLElement {
  connectedCallback() {
    if (this.built) return;
    this.built = true;
    this.cid = Number(this.getAttribute('conversation-id'));
    this.mode = 'reply';
    this.canWrite = false;
    this.found = [];
    this.activeIndex = 0;
    this.typingSent = 0;
    this.uid = nextId++;
    this.className = 'composer';

    this.replyBtn = h('button', { type: 'button', role: 'radio', class: 'mode', onClick: () => this.setMode('reply') }, 'Reply');
    this.noteBtn = h('button', { type: 'button', role: 'radio', class: 'mode mode-note', onClick: () => this.setMode('note') }, icon('lock', 14), 'Private note');
    this.input = h('textarea', {
      rows: 3, class: 'composer-input', 'aria-autocomplete': 'list', 'aria-haspopup': 'listbox',
      'aria-controls': `macros-${this.uid}`, 'aria-expanded': 'false',
    });
    this.popup = h('ul', { class: 'macro-popup', role: 'listbox', id: `macros-${this.uid}`, 'aria-label': 'Macros', hidden: true });
    this.hint = h('span', { class: 'composer-hint' });
    this.send = h('button', { type: 'submit', class: 'btn btn-primary' }, icon('send', 16), h('span', {}, 'Send'));
    this.form = h('form', { class: 'composer-form' },
      h('div', { class: 'composer-modes', role: 'radiogroup', 'aria-label': 'Message type' }, this.replyBtn, this.noteBtn),
      h('div', { class: 'composer-box' }, this.popup, this.input),
      h('div', { class: 'composer-bar' }, this.hint, this.send));
    this.replaceChildren(this.form);

    this.form.addEventListener('submit', (e) => { e.preventDefault(); this.submit(); });
    this.input.addEventListener('keydown', (e) => this.onKey(e));
    this.input.addEventListener('input', () => this.onInput());
    this.input.addEventListener('blur', () => {
      // Late, so a click on an option lands first; cancelled if focus returns.
      this.blurTimer = setTimeout(() => this.hidePopup(), 150);
      this.stopTyping();
    });
    this.input.addEventListener('focus', () => clearTimeout(this.blurTimer));
    this.setMode('reply');
  }

  /** Whether replies are allowed now (notes always are). */
  refresh(canWrite) {
    this.canWrite = Boolean(canWrite);
    this.setMode(this.mode);
  }

  focusInput() {
    if (!this.input.disabled) this.input.focus();
  }

  setMode(mode) {
    this.mode = mode;
    const note = mode === 'note';
    this.classList.toggle('is-note', note);
    this.replyBtn.setAttribute('aria-checked', String(!note));
    this.noteBtn.setAttribute('aria-checked', String(note));
    this.input.setAttribute('aria-label', note ? 'Internal note' : 'Reply to the customer');
    this.input.placeholder = note
      ? 'Only your team sees this note…'
      : this.canWrite ? 'Type a reply; / for macros; Enter sends, Shift+Enter for a new line' : 'Accept the conversation to reply';
    this.input.disabled = !note && !this.canWrite;
    this.send.disabled = this.input.disabled;
    this.send.lastChild.textContent = note ? 'Add note' : 'Send';
    this.hint.textContent = note ? 'Internal: never shown to the customer' : '';
  }

  onKey(e) {
    if (!this.popup.hidden) {
      if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
        e.preventDefault();
        const n = this.found.length;
        this.activeIndex = (this.activeIndex + (e.key === 'ArrowDown' ? 1 : n - 1)) % n;
        this.drawPopup();
        return;
      }
      if ((e.key === 'Enter' || e.key === 'Tab') && this.found.length) {
        e.preventDefault();
        this.insert(this.found[this.activeIndex]);
        return;
      }
      if (e.key === 'Escape') {
        e.preventDefault();
        this.hidePopup();
        return;
      }
    }
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      this.submit();
    }
  }

  async onInput() {
    if (this.mode === 'reply') this.keepTyping();
    const before = this.input.value.slice(0, this.input.selectionStart);
    const m = SLASH.exec(before);
    if (!m) return this.hidePopup();
    let all;
    try {
      all = await live.macros();
    } catch {
      return this.hidePopup();
    }
    const q = m[2].toLowerCase();
    this.found = all.filter((x) => x.title.toLowerCase().includes(q)).slice(0, 8);
    this.activeIndex = 0;
    this.drawPopup();
  }

  drawPopup() {
    clearTimeout(this.blurTimer);
    if (!this.found.length) {
      replace(this.popup, h('li', { class: 'macro-empty', role: 'option', 'aria-disabled': 'true' }, 'No macro matches'));
    } else {
      replace(this.popup, this.found.map((x, i) => h('li', {
        role: 'option', id: `macro-${this.uid}-${x.id}`, class: 'macro-option',
        'aria-selected': String(i === this.activeIndex),
        onMousedown: (e) => { e.preventDefault(); this.insert(x); },
      }, h('strong', {}, x.title), h('span', { class: 'macro-scope' }, x.scope), h('span', { class: 'macro-body' }, x.content))));
    }
    this.popup.hidden = false;
    this.input.setAttribute('aria-expanded', 'true');
    const active = this.found[this.activeIndex];
    if (active) this.input.setAttribute('aria-activedescendant', `macro-${this.uid}-${active.id}`);
    this.popup.querySelector('[aria-selected="true"]')?.scrollIntoView({ block: 'nearest' });
  }

  hidePopup() {
    this.popup.hidden = true;
    this.input.setAttribute('aria-expanded', 'false');
    this.input.removeAttribute('aria-activedescendant');
  }

  /** Replaces the `/search` before the caret with the macro's text. */
  insert(macro) {
    const caret = this.input.selectionStart;
    const before = this.input.value.slice(0, caret);
    const after = this.input.value.slice(caret);
    const m = SLASH.exec(before);
    const start = m ? caret - m[2].length - 1 : caret;
    const text = fillMacro(macro.content, { visitor: live.state.conversations.get(this.cid)?.visitor, agent: live.state.me?.name });
    this.input.value = before.slice(0, start) + text + after;
    const pos = start + text.length;
    this.input.setSelectionRange(pos, pos);
    this.hidePopup();
    this.input.focus();
  }

  keepTyping() {
    const now = Date.now();
    if (now - this.typingSent > TYPING_EVERY) {
      this.typingSent = now;
      live.typing(this.cid, true);
    }
    clearTimeout(this.typingTimer);
    this.typingTimer = setTimeout(() => this.stopTyping(), TYPING_IDLE);
  }

  stopTyping() {
    clearTimeout(this.typingTimer);
    if (this.typingSent) {
      this.typingSent = 0;
      live.typing(this.cid, false);
    }
  }

  async submit() {
    const text = this.input.value;
    if (!text.trim()) return;
    if (this.mode === 'note') {
      this.send.disabled = true;
      try {
        await live.addNote(this.cid, text);
        this.input.value = '';
      } catch (e) {
        live.toast({ kind: 'danger', title: 'Could not add the note', body: e.message });
      } finally {
        this.send.disabled = false;
      }
    } else {
      if (!this.canWrite) return;
      this.stopTyping();
      live.sendMessage(this.cid, text);
      this.input.value = '';
    }
    this.hidePopup();
    this.input.focus();
  }
}

customElements.define('sb-composer', Composer);
