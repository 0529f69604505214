// Building DOM without markup strings: every text that may come from a user
// or the server goes in as a text node, so nothing is ever parsed as HTML.

/** Properties set on the element itself rather than as attributes. */
const PROPS = new Set(['value', 'checked', 'disabled', 'hidden', 'selected', 'multiple',
  'required', 'readOnly', 'htmlFor', 'indeterminate', 'draggable', 'open']);

/**
 * Creates an element. `props` keys: `class`, `dataset`, `style` (object),
 * `on<Event>` listeners (e.g. `onClick`), known properties, else attributes
 * (`true` sets an empty attribute, `null`/`false`/`undefined` skip it).
 * Children may be nodes, strings (text nodes), numbers, arrays or null.
 * @param {string} tag
 * @param {Record<string, any>} [props]
 * @param {...any} children
 * @returns {HTMLElement}
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key === 'style' && typeof value === 'object') Object.assign(el.style, value);
    else if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (PROPS.has(key)) el[key] = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

/**
 * Appends children (see {@link h}) to `parent`.
 * @param {Node} parent
 * @param {any[]} children
 */
export function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

/**
 * Replaces every child of `parent` with `children`.
 * @param {Node} parent
 * @param {...any} children
 */
export function replace(parent, ...children) {
  parent.replaceChildren();
  return append(parent, children);
}

const SVG = 'http://www.w3.org/2000/svg';

/**
 * Stroke icons drawn for this app on a 24×24 grid (path data of our own).
 * @type {Record<string, string[]>}
 */
const ICONS = {
  send: ['M4 12 20 4 14 20 11 13Z', 'M11 13 20 4'],
  note: ['M6 3h9l3 3v15H6Z', 'M9 10h6', 'M9 14h6', 'M9 18h3'],
  tag: ['M3 12V4h8l10 10-8 8Z', 'M7.5 8.5h.01'],
  transfer: ['M4 8h14', 'M14 4l4 4-4 4', 'M20 16H6', 'M10 12l-4 4 4 4'],
  check: ['M5 12.5 10 17 19 7'],
  close: ['M6 6l12 12', 'M18 6 6 18'],
  search: ['M11 4a7 7 0 1 0 0 14a7 7 0 1 0 0-14Z', 'M16 16l5 5'],
  inbox: ['M3 13h5l2 3h4l2-3h5', 'M5 5h14l2 8v6H3v-6Z'],
  chart: ['M4 20V10', 'M10 20V4', 'M16 20v-7', 'M22 20H2'],
  gear: ['M12 9a3 3 0 1 0 0 6a3 3 0 1 0 0-6Z', 'M12 2v3', 'M12 19v3', 'M2 12h3', 'M19 12h3',
    'M5 5l2 2', 'M17 17l2 2', 'M5 19l2-2', 'M17 7l2-2'],
  user: ['M12 4a4 4 0 1 0 0 8a4 4 0 1 0 0-8Z', 'M4 21c1-4 4-6 8-6s7 2 8 6'],
  clock: ['M12 3a9 9 0 1 0 0 18a9 9 0 1 0 0-18Z', 'M12 7v5l3 2'],
  back: ['M15 5l-7 7 7 7'],
  panel: ['M3 4h18v16H3Z', 'M15 4v16'],
  reopen: ['M4 12a8 8 0 1 0 3-6.2', 'M4 4v4h4'],
  bolt: ['M13 2 4 14h7l-1 8 9-12h-7Z'],
  logout: ['M10 4H4v16h6', 'M16 8l4 4-4 4', 'M20 12H9'],
  plus: ['M12 5v14', 'M5 12h14'],
  grip: ['M9 6h.01', 'M15 6h.01', 'M9 12h.01', 'M15 12h.01', 'M9 18h.01', 'M15 18h.01'],
  lock: ['M6 11h12v9H6Z', 'M8 11V8a4 4 0 0 1 8 0v3'],
  warning: ['M12 3 2 20h20Z', 'M12 10v4', 'M12 17h.01'],
  chat: ['M4 5h16v11H10l-6 4Z'],
};

/**
 * An inline SVG icon, hidden from assistive technology (the control that
 * holds it carries the label).
 * @param {keyof ICONS} name
 * @param {number} [size]
 */
export function icon(name, size = 18) {
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('width', String(size));
  svg.setAttribute('height', String(size));
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('class', 'icon');
  for (const d of ICONS[name] ?? []) {
    const path = document.createElementNS(SVG, 'path');
    path.setAttribute('d', d);
    svg.append(path);
  }
  return svg;
}

/**
 * Calls `fn` at most once per `ms`, trailing call included.
 * @template {(...args: any[]) => void} F
 * @param {F} fn
 * @param {number} ms
 * @returns {F}
 */
export function debounce(fn, ms) {
  let timer = 0;
  return /** @type {F} */ ((...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  });
}
