// The widget's forms: pre-chat, leave-a-message and the CSAT rating. They
// validate on the client with accessible messages (aria-invalid and
// aria-describedby), and show the server's 422 field errors the same way.

import { h } from './dom.js';

const EMAIL = /^[^\s@<>]+@[^\s@<>]+\.[^\s@<>]+$/;
let forms = 0;

/**
 * @typedef {{name: string, label: string, type?: 'text'|'email'|'select'|'textarea',
 *   required?: boolean, options?: string[], maxlength?: number, autocomplete?: string}} FieldSpec
 */

/**
 * A form from field specs. Built-in names (`name`, `email`, `issue_type`,
 * `message`) are returned as they are; custom ones under `custom_fields`.
 * @param {{fields: FieldSpec[], submit: string, t: Record<string, any>,
 *   intro?: Node|string|null, onSubmit: (values: Record<string, any>) => void}} opts
 */
export function createForm({ fields, submit, t, intro = null, onSubmit }) {
  forms += 1;
  const prefix = `sb${forms}`;
  const rows = new Map();
  const general = h('p', { class: 'form-error', role: 'alert', hidden: true });
  const body = fields.map((spec) => {
    const id = `${prefix}-${spec.name.replace(/[^a-z0-9_]/gi, '_')}`;
    const common = {
      id,
      name: spec.name,
      'aria-describedby': `${id}-err`,
      'aria-required': spec.required ? 'true' : null,
      autocomplete: spec.autocomplete ?? null,
    };
    let control;
    if (spec.type === 'select') {
      control = h('select', common, h('option', { value: '', text: t.choose }),
        (spec.options ?? []).map((o) => h('option', { value: o, text: o })));
    } else if (spec.type === 'textarea') {
      control = h('textarea', { ...common, rows: 3, maxlength: spec.maxlength ?? 1000 });
    } else {
      control = h('input', {
        ...common,
        type: spec.type === 'email' ? 'email' : 'text',
        maxlength: spec.maxlength ?? 100,
      });
    }
    const error = h('p', { class: 'field-error', id: `${id}-err`, hidden: true });
    const row = h('div', { class: 'field' }, h('label', { for: id, text: spec.label }), control, error);
    rows.set(spec.name, { spec, control, error });
    return row;
  });
  const button = h('button', { type: 'submit', class: 'primary', text: submit });
  const form = h('form', { class: 'form', novalidate: true }, intro && h('p', { class: 'intro' }, intro), general, body, button);

  const setError = (name, message) => {
    const row = rows.get(name);
    if (!row) return false;
    row.error.textContent = message || '';
    row.error.hidden = !message;
    if (message) row.control.setAttribute('aria-invalid', 'true');
    else row.control.removeAttribute('aria-invalid');
    return true;
  };

  const validate = () => {
    let first = null;
    for (const [name, { spec, control }] of rows) {
      const value = control.value.trim();
      let problem = '';
      if (spec.required && !value) problem = t.required;
      else if (value && spec.type === 'email' && !EMAIL.test(value)) problem = t.badEmail;
      else if (value.length > (spec.maxlength ?? Infinity)) problem = t.tooLong(spec.maxlength);
      setError(name, problem);
      if (problem && !first) first = control;
    }
    return first;
  };

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    general.hidden = true;
    const invalid = validate();
    if (invalid) {
      invalid.focus();
      return;
    }
    const values = { custom_fields: {} };
    for (const [name, { control }] of rows) {
      const value = control.value.trim();
      if (name.startsWith('custom.')) {
        if (value) values.custom_fields[name.slice(7)] = value;
      } else if (value) {
        values[name] = value;
      }
    }
    onSubmit(values);
  });

  return {
    element: form,
    /** Focuses the first field. */
    focus: () => rows.values().next().value?.control.focus(),
    /** Disables the form while a request runs. */
    setBusy(busy) {
      button.disabled = busy;
      form.setAttribute('aria-busy', busy ? 'true' : 'false');
    },
    /**
     * Shows a refused request: field errors by name (`custom_fields.x` is
     * the custom field `x`, `text` the message), anything else on top.
     * @param {string} message
     * @param {Array<{field: string, message: string}>} [errors]
     */
    showErrors(message, errors = []) {
      let shown = false;
      for (const e of errors) {
        const name = e.field.startsWith('custom_fields.') ? `custom.${e.field.slice(14)}` : e.field === 'text' ? 'message' : e.field;
        shown = setError(name, e.message) || shown;
      }
      if (!shown) {
        general.textContent = message;
        general.hidden = false;
      }
    },
  };
}

/**
 * The admin's pre-chat fields as field specs (custom ones namespaced).
 * @param {Array<{name: string, label: string, type: string, required?: boolean, options?: string[]}>} defs
 * @returns {FieldSpec[]}
 */
export function customFields(defs) {
  return (Array.isArray(defs) ? defs : [])
    .filter((d) => d && typeof d.name === 'string' && typeof d.label === 'string')
    .map((d) => ({
      name: `custom.${d.name}`,
      label: d.label,
      type: ['text', 'email', 'select', 'textarea'].includes(d.type) ? d.type : 'text',
      required: Boolean(d.required),
      options: Array.isArray(d.options) ? d.options.map(String) : undefined,
      maxlength: 1000,
    }));
}

/**
 * The CSAT rating: five radio stars and an optional comment.
 * @param {{t: Record<string, any>, onSubmit: (score: number, comment: string) => void}} opts
 */
export function createRating({ t, onSubmit }) {
  forms += 1;
  const prefix = `sb${forms}`;
  const radios = [1, 2, 3, 4, 5].map((n) =>
    h('label', { class: 'star' },
      h('input', { type: 'radio', name: `${prefix}-score`, value: String(n), 'aria-label': t.stars(n) }),
      h('span', { 'aria-hidden': 'true', text: '★' })),
  );
  const error = h('p', { class: 'field-error', role: 'alert', hidden: true });
  const comment = h('textarea', { id: `${prefix}-comment`, rows: 2, maxlength: 1000 });
  const button = h('button', { type: 'submit', class: 'primary', text: t.sendRating });
  const form = h('form', { class: 'form rating', novalidate: true },
    h('fieldset', {},
      h('legend', { text: t.rateTitle }),
      h('div', { class: 'stars', role: 'radiogroup', 'aria-label': t.rateTitle }, radios)),
    error,
    h('div', { class: 'field' }, h('label', { for: `${prefix}-comment`, text: t.comment }), comment),
    button);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const picked = form.querySelector('input[type=radio]:checked');
    if (!picked) {
      error.textContent = t.pickScore;
      error.hidden = false;
      return;
    }
    error.hidden = true;
    onSubmit(Number(picked.value), comment.value.trim());
  });
  return {
    element: form,
    setBusy(busy) {
      button.disabled = busy;
    },
    showError(message) {
      error.textContent = message;
      error.hidden = false;
    },
  };
}
