// Macros (canned responses). Admins manage the global ones in the admin
// console (`<sb-admin-macros>`); everyone manages their personal ones on
// "My macros" (`<sb-my-macros>`). Both are the same list with a scope.

import { h, replace, icon } from '../../dom.js';
import * as api from '../../api.js';
import * as live from '../../live.js';
import { openDialog, field, confirmDialog } from '../../ui/dialog.js';
import { page, table, input, failed } from './common.js';

class MacroList extends HTMLElement {
  /** `global` or `personal`. */
  get scope() {
    return 'personal';
  }

  connectedCallback() {
    this.load();
  }

  route() {
    this.load();
  }

  async load() {
    try {
      this.items = (await api.get(`/macros?scope=${this.scope}&limit=200`)).items;
      this.draw();
    } catch (e) {
      failed('load the macros')(e);
    }
  }

  draw() {
    const global = this.scope === 'global';
    replace(this, ...page(global ? 'Macros' : 'My macros',
      global ? 'Canned responses every agent can insert by typing / in a reply.'
        : 'Your own canned responses; only you see them. Type / in a reply to use one.',
      [h('button', { class: 'btn btn-primary', onClick: () => this.edit(null) }, icon('plus'), 'New macro')],
      h('p', { class: 'muted' }, 'Placeholders: {{name}}, {{first_name}}, {{email}} (the visitor), {{agent}} (you).'),
      table('Macros', [
        ['Title', (m) => h('strong', {}, m.title)],
        ['Text', (m) => h('span', { class: 'clip' }, m.content)],
        ['', (m) => h('div', { class: 'row-actions' },
          h('button', { class: 'btn btn-small', onClick: () => this.edit(m), 'aria-label': `Edit ${m.title}` }, 'Edit'),
          h('button', { class: 'btn btn-small btn-danger-ghost', onClick: () => this.remove(m), 'aria-label': `Delete ${m.title}` }, 'Delete'))],
      ], this.items, (m) => m.title)));
  }

  async edit(m) {
    const title = input('title', m?.title, { maxlength: 80, required: true });
    const content = h('textarea', { name: 'content', rows: 6, maxlength: 4000, required: true });
    content.value = m?.content ?? '';
    const saved = await openDialog({
      title: m ? `Edit ${m.title}` : 'New macro',
      submitLabel: m ? 'Save' : 'Create macro',
      body: [field('Title', title, 'What agents type after /'), field('Text', content)],
      submit: () => {
        const body = { title: title.value, content: content.value };
        return m ? api.patch(`/macros/${m.id}`, body) : api.post('/macros', { ...body, scope: this.scope });
      },
    });
    if (saved) {
      live.macros({ fresh: true }).catch(() => {});
      live.toast({ kind: 'info', title: `Saved ${saved.title}` });
      this.load();
    }
  }

  async remove(m) {
    if (!await confirmDialog(`Delete ${m.title}?`, 'Nobody can insert it any more.', 'Delete')) return;
    try {
      await api.del(`/macros/${m.id}`);
      live.macros({ fresh: true }).catch(() => {});
      this.load();
    } catch (e) {
      failed('delete the macro')(e);
    }
  }
}

/** `<sb-admin-macros>`: the global macros. */
export class AdminMacros extends MacroList {
  get scope() {
    return 'global';
  }
}

/** `<sb-my-macros>`: the caller's personal macros. */
export class MyMacros extends MacroList {}

customElements.define('sb-admin-macros', AdminMacros);
customElements.define('sb-my-macros', MyMacros);
