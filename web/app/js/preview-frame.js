// Inside the admin console's preview iframe: draws the widget with the
// settings the parent page sends on every edit. Uses the real widget
// (`Switchboard.init({preview: true, mode: 'inline', …})` and
// `instance.update(options)`) when its script provides it, else a plain
// stand-in drawn here.

import { h, replace, icon } from './dom.js';

const target = document.getElementById('preview-target');
/** @type {{update: (o: any) => void} | null} */
let instance = null;

/** A simple picture of the widget: header, welcome bubble, pre-chat form, launcher. */
function fallback(o) {
  const color = /^#[0-9a-f]{6}$/i.test(o.primary_color) ? o.primary_color : '#2563eb';
  target.style.setProperty('--brand', color);
  target.dataset.position = o.position === 'left' ? 'left' : 'right';
  const logo = o.logo_url && /^https:\/\//.test(o.logo_url)
    ? h('img', { src: o.logo_url, alt: '', class: 'pv-logo', referrerpolicy: 'no-referrer' }) : null;
  replace(target,
    h('div', { class: 'pv-window', role: 'region', 'aria-label': 'Widget preview (stand-in)' },
      h('header', { class: 'pv-head' }, logo, h('strong', { class: 'pv-title' }, o.title || 'Chat with us')),
      h('div', { class: 'pv-body' },
        h('p', { class: 'pv-bubble' }, o.welcome_message || ''),
        (o.pre_chat_fields ?? []).length ? h('form', { class: 'pv-form', onSubmit: (e) => e.preventDefault() },
          o.pre_chat_fields.map((f) => h('label', { class: 'pv-field' },
            h('span', {}, f.label || f.name, f.required ? ' *' : ''),
            f.type === 'textarea' ? h('textarea', { rows: 2, disabled: true })
              : f.type === 'select' ? h('select', { disabled: true }, (f.options ?? []).map((x) => h('option', {}, x)))
                : h('input', { type: f.type === 'email' ? 'email' : 'text', disabled: true }))),
          h('button', { type: 'button', class: 'pv-start', disabled: true }, 'Start chat')) : null),
      h('footer', { class: 'pv-foot' }, h('span', { class: 'pv-input' }, 'Type a message…'))),
    h('span', { class: 'pv-launcher', 'aria-hidden': 'true' }, icon('chat', 26)),
    h('p', { class: 'pv-note' }, 'Stand-in preview: the widget script is not available.'));
}

function show(options) {
  if (window.Switchboard && typeof window.Switchboard.init === 'function') {
    try {
      if (instance) instance.update(options);
      else instance = window.Switchboard.init({ preview: true, mode: 'inline', target, ...options });
      return;
    } catch (e) {
      console.error('widget preview failed; drawing the stand-in', e);
      instance = null;
    }
  }
  fallback(options);
}

window.addEventListener('message', (ev) => {
  if (ev.origin !== location.origin || ev.data?.type !== 'switchboard-preview') return;
  show(ev.data.options);
});
