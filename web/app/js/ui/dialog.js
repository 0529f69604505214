// Modal dialogs on the native <dialog> element: focus is trapped, Escape
// closes, and the opener gets focus back, all by the browser.

import { h } from '../dom.js';
import { ApiError } from '../api.js';

/**
 * Opens a modal form. `submit` runs on the primary button (or Enter); when
 * it throws, the error is shown in the dialog and it stays open; when it
 * resolves, the dialog closes and `open` resolves with its value.
 * @param {{title: string, body: Node | Node[], submitLabel?: string,
 *   danger?: boolean, submit?: (form: HTMLFormElement) => Promise<any> | any,
 *   wide?: boolean}} opts
 * @returns {Promise<any>} the submit result, or undefined when cancelled
 */
export function openDialog({ title, body, submitLabel = 'Save', danger = false, submit, wide = false }) {
  return new Promise((resolve) => {
    const error = h('p', { class: 'form-error', role: 'alert', hidden: true });
    const titleId = `dlg-${Math.random().toString(36).slice(2)}`;
    const cancel = h('button', { type: 'button', class: 'btn', onClick: () => dialog.close() }, 'Cancel');
    const ok = h('button', { type: 'submit', class: `btn ${danger ? 'btn-danger' : 'btn-primary'}` }, submitLabel);
    const form = h('form', { method: 'dialog', class: 'dialog-form', novalidate: true },
      h('header', { class: 'dialog-head' },
        h('h2', { id: titleId }, title),
        h('button', { type: 'button', class: 'icon-btn', 'aria-label': 'Close', onClick: () => dialog.close() }, '×')),
      h('div', { class: 'dialog-body' }, body, error),
      h('footer', { class: 'dialog-foot' }, cancel, submit ? ok : null));
    const dialog = h('dialog', { class: `dialog${wide ? ' dialog-wide' : ''}`, 'aria-labelledby': titleId }, form);
    let result;
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      if (!submit) return dialog.close();
      ok.disabled = true;
      error.hidden = true;
      try {
        result = await submit(form);
        dialog.close();
      } catch (e) {
        showError(error, e, form);
      } finally {
        ok.disabled = false;
      }
    });
    dialog.addEventListener('close', () => {
      dialog.remove();
      resolve(result);
    });
    document.body.append(dialog);
    dialog.showModal();
    const first = form.querySelector('.dialog-body input, .dialog-body select, .dialog-body textarea, .dialog-body button');
    (first ?? ok).focus();
  });
}

/**
 * Shows an error under a form; for a 422, next to each named field too.
 * @param {HTMLElement} box
 * @param {any} e
 * @param {HTMLElement} [form]
 */
export function showError(box, e, form) {
  form?.querySelectorAll('.field-error').forEach((x) => x.remove());
  form?.querySelectorAll('[aria-invalid]').forEach((x) => x.removeAttribute('aria-invalid'));
  let text = e?.message ?? String(e);
  if (e instanceof ApiError && e.fields.length) {
    const unplaced = [];
    for (const f of e.fields) {
      const input = form?.querySelector(`[name="${CSS.escape(f.field)}"]`);
      if (input) {
        input.setAttribute('aria-invalid', 'true');
        input.closest('.field, label')?.append(h('span', { class: 'field-error' }, f.message));
      } else {
        unplaced.push(`${f.field}: ${f.message}`);
      }
    }
    text = unplaced.length ? unplaced.join('; ') : 'Please correct the fields marked above.';
  }
  box.textContent = text;
  box.hidden = false;
}

/**
 * Asks a yes/no question.
 * @param {string} title
 * @param {string} text
 * @param {string} [confirmLabel]
 */
export async function confirmDialog(title, text, confirmLabel = 'Confirm') {
  const ok = await openDialog({
    title, body: h('p', {}, text), submitLabel: confirmLabel, danger: true, submit: () => true,
  });
  return ok === true;
}

/**
 * A labelled form control.
 * @param {string} label
 * @param {HTMLElement} control
 * @param {string} [hint]
 */
export function field(label, control, hint) {
  // A label of its own (not wrapping the control), so its text is only the
  // label and never the options of a select inside it.
  if (!control.id) control.id = `f-${fieldIds++}`;
  const hintEl = hint ? h('span', { class: 'field-hint', id: `${control.id}-hint` }, hint) : null;
  if (hintEl) control.setAttribute('aria-describedby', hintEl.id);
  return h('div', { class: 'field' },
    h('label', { class: 'field-label', for: control.id }, label),
    control,
    hintEl);
}

let fieldIds = 1;
