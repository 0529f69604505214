// Pieces every admin page uses: the page frame, tables, and small form
// controls.

import { h } from '../../dom.js';
import * as live from '../../live.js';

/**
 * A page: title, description, action buttons, body.
 * @param {string} title
 * @param {string} description
 * @param {Node[]} actions
 * @param {...any} body
 */
export function page(title, description, actions, ...body) {
  return [
    h('div', { class: 'page-head' },
      h('div', {}, h('h1', {}, title), h('p', { class: 'muted' }, description)),
      h('div', { class: 'page-actions' }, actions)),
    ...body,
  ];
}

/**
 * A table: `columns` are `[header, (row) => cell]`.
 * @param {string} label accessible name
 * @param {[string, (row: any) => any][]} columns
 * @param {any[]} rows
 * @param {(row: any) => string} [key] a data attribute per row
 */
export function table(label, columns, rows, key) {
  return h('div', { class: 'table-wrap' },
    h('table', { class: 'table', 'aria-label': label },
      h('thead', {}, h('tr', {}, columns.map(([head]) => h('th', { scope: 'col' }, head)))),
      h('tbody', {}, rows.length ? rows.map((row) => h('tr', { dataset: key ? { key: key(row) } : null },
        columns.map(([, cell]) => h('td', {}, cell(row)))))
        : h('tr', {}, h('td', { colspan: String(columns.length), class: 'empty' }, 'Nothing here yet.')))));
}

/**
 * A text input.
 * @param {string} name
 * @param {any} value
 * @param {Record<string, any>} [extra]
 */
export function input(name, value = '', extra = {}) {
  return h('input', { type: 'text', name, value: value ?? '', ...extra });
}

/**
 * A select of `[value, label]` options.
 * @param {string} name
 * @param {[string, string][]} options
 * @param {any} value
 */
export function select(name, options, value) {
  const el = h('select', { name }, options.map(([v, l]) => h('option', { value: v }, l)));
  el.value = value === null || value === undefined ? '' : String(value);
  return el;
}

/**
 * Checkboxes, one per `[value, label]`, inside a fieldset.
 * @param {string} legend
 * @param {string} name
 * @param {[string|number, string][]} options
 * @param {(string|number)[]} checked
 */
export function checkboxes(legend, name, options, checked) {
  const set = new Set(checked.map(String));
  return h('fieldset', { class: 'checks' }, h('legend', { class: 'field-label' }, legend),
    options.length ? options.map(([v, l]) => h('label', { class: 'check' },
      h('input', { type: 'checkbox', name, value: String(v), checked: set.has(String(v)) }), l))
      : h('p', { class: 'muted' }, 'None yet.'));
}

/** The values of the checked boxes named `name` inside `root`. */
export function checkedValues(root, name) {
  return [...root.querySelectorAll(`input[name="${name}"]:checked`)].map((x) => x.value);
}

/**
 * Rows of key/value inputs (skills with levels, custom fields), with add
 * and remove buttons. `read()` returns the filled pairs.
 * @param {string} legend
 * @param {[string, any][]} pairs
 * @param {{keyLabel: string, valueLabel: string, valueInput?: (v: any) => HTMLElement, list?: string}} opts
 */
export function pairEditor(legend, pairs, opts) {
  const rows = h('div', { class: 'pairs' });
  const addRow = (k = '', v = '') => {
    const key = h('input', { type: 'text', value: k, 'aria-label': opts.keyLabel, list: opts.list ?? null, class: 'pair-key' });
    const value = opts.valueInput ? opts.valueInput(v) : h('input', { type: 'text', value: v ?? '', 'aria-label': opts.valueLabel });
    value.classList.add('pair-value');
    value.setAttribute('aria-label', opts.valueLabel);
    const row = h('div', { class: 'pair' }, key, value,
      h('button', { type: 'button', class: 'icon-btn', 'aria-label': `Remove ${opts.keyLabel.toLowerCase()}`, onClick: () => row.remove() }, '×'));
    rows.append(row);
    return row;
  };
  for (const [k, v] of pairs) addRow(k, v);
  const el = h('fieldset', { class: 'pair-editor' }, h('legend', { class: 'field-label' }, legend), rows,
    h('button', { type: 'button', class: 'btn btn-small', onClick: () => addRow().querySelector('input')?.focus() }, `+ Add ${opts.keyLabel.toLowerCase()}`));
  return {
    el,
    read: () => [...rows.children].map((r) => [r.querySelector('.pair-key').value.trim(), r.querySelector('.pair-value').value])
      .filter(([k]) => k),
  };
}

/** A level 1–5 select for the pair editor. */
export function levelInput(v) {
  return select('', [['1', '1'], ['2', '2'], ['3', '3'], ['4', '4'], ['5', '5']], v || 3);
}

/** Shows a failed call as a toast. */
export function failed(what) {
  return (e) => live.toast({ kind: 'danger', title: `Could not ${what}`, body: e.message });
}

/** `'' → null`, else the number. */
export function numberOrNull(v) {
  const s = String(v ?? '').trim();
  return s === '' ? null : Number(s);
}
