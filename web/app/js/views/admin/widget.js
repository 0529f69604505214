// Admin: widget settings, with a live preview. The preview runs the real
// widget script in an iframe (`/app/preview.html`), which is told every
// edit; until that script offers `Switchboard.init`, the iframe draws a
// plain stand-in.

import { h, replace } from '../../dom.js';
import * as api from '../../api.js';
import * as live from '../../live.js';
import { field, showError } from '../../ui/dialog.js';
import { page, input, select, failed } from './common.js';

const TYPES = [['text', 'Text'], ['email', 'E-mail'], ['textarea', 'Long text'], ['select', 'Choice']];

/** `<sb-admin-widget>` */
export class AdminWidget extends HTMLElement {
  connectedCallback() {
    this.load();
  }

  async load() {
    try {
      this.settings = await api.get('/widget/settings');
      this.draw();
    } catch (e) {
      failed('load the widget settings')(e);
    }
  }

  draw() {
    const s = this.settings;
    /** The form's controls (own object: `title` is taken on elements). */
    this.f = {};
    this.f.title = input('title', s.title, { maxlength: 60, required: true });
    this.f.welcome = h('textarea', { name: 'welcome_message', rows: 3, maxlength: 500 });
    this.f.welcome.value = s.welcome_message;
    this.f.offline = h('textarea', { name: 'offline_message', rows: 2, maxlength: 500 });
    this.f.offline.value = s.offline_message;
    this.f.color = input('primary_color', s.primary_color, { type: 'color' });
    this.f.logo = input('logo_url', s.logo_url ?? '', { type: 'url', placeholder: 'https://…' });
    this.f.position = select('position', [['right', 'Bottom right'], ['left', 'Bottom left']], s.position);
    this.f.fields = h('div', { class: 'prechat-fields' });
    for (const f of s.pre_chat_fields) this.f.fields.append(this.fieldRow(f));
    this.frame = h('iframe', { src: '/app/preview.html', title: 'Widget preview', class: 'preview-frame' });
    this.frame.addEventListener('load', () => this.preview());
    /** What the preview shows: editing a form shows that form. */
    this.screen = 'chat';
    const screens = h('div', { class: 'segmented', role: 'radiogroup', 'aria-label': 'Preview shows' },
      [['chat', 'Chat'], ['prechat', 'Pre-chat form'], ['offline', 'Offline form']].map(([value, label]) =>
        h('label', { class: 'check' },
          h('input', { type: 'radio', name: 'preview-screen', value, checked: value === 'chat',
            onChange: () => this.show(value) }),
          label)));
    this.screens = screens;
    const error = h('p', { class: 'form-error', role: 'alert', hidden: true });
    const form = h('form', { class: 'card form-card', 'aria-label': 'Widget settings' },
      h('div', { class: 'form-grid' },
        field('Title', this.f.title), field('Colour', this.f.color),
        field('Welcome message', this.f.welcome), field('Offline message', this.f.offline),
        field('Logo URL', this.f.logo, 'https only; leave empty for none'), field('Position', this.f.position)),
      h('h3', { class: 'form-section' }, 'Pre-chat form'),
      this.f.fields,
      h('button', { type: 'button', class: 'btn btn-small', onClick: () => { this.f.fields.append(this.fieldRow()); this.show('prechat'); } }, '+ Add field'),
      error,
      h('div', { class: 'form-actions' }, h('button', { type: 'submit', class: 'btn btn-primary' }, 'Save settings')));
    form.addEventListener('input', (e) => {
      if (this.f.fields.contains(e.target)) this.show('prechat');
      else if (e.target === this.f.offline) this.show('offline');
      else this.preview();
    });
    form.addEventListener('change', () => this.preview());
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      error.hidden = true;
      try {
        this.settings = await api.put('/widget/settings', this.read());
        live.toast({ kind: 'info', title: 'Widget settings saved' });
      } catch (err) {
        showError(error, err, form);
      }
    });
    replace(this, ...page('Widget', 'What customers see on your site. The preview follows every edit; save to publish.', [],
      h('div', { class: 'widget-editor' }, form,
        h('section', { class: 'preview', 'aria-label': 'Live preview' }, h('h2', { class: 'preview-title' }, 'Live preview'), screens, this.frame))));
  }

  fieldRow(f = { name: '', label: '', type: 'text', required: false }) {
    const options = input('', (f.options ?? []).join(', '), { placeholder: 'Options, comma-separated', 'aria-label': 'Options', class: 'pf-options' });
    const type = select('', TYPES, f.type);
    type.classList.add('pf-type');
    type.setAttribute('aria-label', 'Field type');
    const sync = () => { options.hidden = type.value !== 'select'; };
    type.addEventListener('change', sync);
    sync();
    const row = h('div', { class: 'prechat-row' },
      input('', f.label, { placeholder: 'Label', 'aria-label': 'Field label', class: 'pf-label' }),
      input('', f.name, { placeholder: 'name (from the label)', 'aria-label': 'Field name', class: 'pf-name' }),
      type,
      h('label', { class: 'check' }, h('input', { type: 'checkbox', class: 'pf-required', checked: Boolean(f.required) }), 'Required'),
      options,
      h('button', { type: 'button', class: 'icon-btn', 'aria-label': 'Remove field', onClick: () => { row.remove(); this.preview(); } }, '×'));
    return row;
  }

  /** The settings as the form shows them now. */
  read() {
    return {
      title: this.f.title.value,
      welcome_message: this.f.welcome.value,
      offline_message: this.f.offline.value,
      primary_color: this.f.color.value,
      logo_url: this.f.logo.value.trim() || null,
      position: this.f.position.value,
      pre_chat_fields: [...this.f.fields.children].map((row) => {
        const type = row.querySelector('.pf-type').value;
        const label = row.querySelector('.pf-label').value;
        const field = {
          name: row.querySelector('.pf-name').value.trim() || label.trim().toLowerCase().replace(/[^a-z0-9]+/g, '_').replace(/^_|_$/g, ''),
          label, type, required: row.querySelector('.pf-required').checked,
        };
        if (type === 'select') field.options = row.querySelector('.pf-options').value.split(',').map((x) => x.trim()).filter(Boolean);
        return field;
      }),
    };
  }

  /** Shows `screen` in the preview (and checks its radio). */
  show(screen) {
    this.screen = screen;
    for (const r of this.screens.querySelectorAll('input')) r.checked = r.value === screen;
    this.preview();
  }

  preview() {
    const options = { ...this.read(), preview: this.screen === 'chat' ? true : this.screen };
    this.frame.contentWindow?.postMessage({ type: 'switchboard-preview', options }, location.origin);
  }
}

customElements.define('sb-admin-widget', AdminWidget);
