// Toasts: short notices in a corner, announced politely to screen readers,
// gone after a while unless hovered or focused.

import { h, icon } from '../dom.js';
import { bus } from '../live.js';

const LIFETIME = 8000;

/** `<sb-toasts>`: shows every `toast` event of the live bus. */
export class Toasts extends HTMLElement {
  connectedCallback() {
    this.setAttribute('role', 'status');
    this.setAttribute('aria-live', 'polite');
    this.className = 'toasts';
    this.off = bus.on('toast', (t) => this.show(t));
  }

  disconnectedCallback() {
    this.off?.();
  }

  /** @param {{kind?: string, title: string, body?: string, action?: {label: string, run: () => void}}} t */
  show(t) {
    const kind = t.kind ?? 'info';
    const el = h('div', { class: `toast toast-${kind}`, dataset: { kind } },
      h('span', { class: 'toast-icon' }, icon(kind === 'assigned' ? 'inbox' : kind === 'info' ? 'check' : 'warning')),
      h('div', { class: 'toast-text' },
        h('strong', {}, t.title),
        t.body ? h('span', {}, t.body) : null),
      t.action ? h('button', {
        class: 'btn btn-small', onClick: () => { t.action.run(); el.remove(); },
      }, t.action.label) : null,
      h('button', { class: 'icon-btn', 'aria-label': 'Dismiss', onClick: () => el.remove() }, icon('close', 14)));
    let timer = setTimeout(() => el.remove(), LIFETIME);
    const hold = () => clearTimeout(timer);
    const release = () => { timer = setTimeout(() => el.remove(), LIFETIME / 2); };
    el.addEventListener('mouseenter', hold);
    el.addEventListener('focusin', hold);
    el.addEventListener('mouseleave', release);
    this.append(el);
    while (this.children.length > 4) this.firstElementChild?.remove();
  }
}

customElements.define('sb-toasts', Toasts);
