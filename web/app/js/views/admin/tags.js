// Admin: the tag catalogue agents choose from.

import { h, replace, icon } from '../../dom.js';
import * as api from '../../api.js';
import * as live from '../../live.js';
import { openDialog, field, confirmDialog } from '../../ui/dialog.js';
import { page, table, input, failed } from './common.js';

/** `<sb-admin-tags>` */
export class AdminTags extends HTMLElement {
  connectedCallback() {
    this.load();
  }

  async load() {
    try {
      await live.loadTags();
      this.draw();
    } catch (e) {
      failed('load the tags')(e);
    }
  }

  draw() {
    replace(this, ...page('Tags', 'Labels agents put on conversations, for filtering the inbox and for reports.',
      [h('button', { class: 'btn btn-primary', onClick: () => this.edit(null) }, icon('plus'), 'New tag')],
      table('Tags', [
        ['Tag', (t) => h('span', { class: 'chip', style: t.color ? { '--chip': t.color } : null }, t.name)],
        ['Colour', (t) => t.color ?? '—'],
        ['', (t) => h('div', { class: 'row-actions' },
          h('button', { class: 'btn btn-small', onClick: () => this.edit(t), 'aria-label': `Edit ${t.name}` }, 'Edit'),
          h('button', { class: 'btn btn-small btn-danger-ghost', onClick: () => this.remove(t), 'aria-label': `Delete ${t.name}` }, 'Delete'))],
      ], live.state.tags, (t) => t.name)));
  }

  async edit(tag) {
    const name = input('name', tag?.name, { maxlength: 40, required: true });
    const useColor = h('input', { type: 'checkbox', checked: Boolean(tag?.color) });
    const color = input('color', tag?.color ?? '#6366f1', { type: 'color' });
    const saved = await openDialog({
      title: tag ? `Edit ${tag.name}` : 'New tag',
      submitLabel: tag ? 'Save' : 'Create tag',
      body: [field('Name', name, 'Letters, digits, spaces and - _ : . (stored lower-case)'),
        h('label', { class: 'check field' }, useColor, 'Colour'), color],
      submit: () => {
        const body = { name: name.value, color: useColor.checked ? color.value : null };
        return tag ? api.patch(`/tags/${tag.id}`, body) : api.post('/tags', body.color ? body : { name: body.name });
      },
    });
    if (saved) this.load();
  }

  async remove(tag) {
    if (!await confirmDialog(`Delete ${tag.name}?`, 'It is removed from every conversation that has it.', 'Delete')) return;
    try {
      await api.del(`/tags/${tag.id}`);
      this.load();
    } catch (e) {
      failed('delete the tag')(e);
    }
  }
}

customElements.define('sb-admin-tags', AdminTags);
