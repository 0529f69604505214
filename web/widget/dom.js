// DOM building without innerHTML: every text goes in through textContent,
// so nothing a visitor or an agent types can become markup.

const SVG = 'http://www.w3.org/2000/svg';

/**
 * Creates an element.
 * `props`: `class`, `text` (textContent), `on<event>` listeners, `.<prop>`
 * for DOM properties (e.g. `.value`), anything else as an attribute
 * (`true` → empty attribute; `null`/`false`/`undefined` → left out).
 * @param {string} tag
 * @param {Record<string, unknown>} [props]
 * @param {...(Node|string|null|false|undefined|Array<Node|string>)} children
 * @returns {HTMLElement}
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value == null || value === false) continue;
    if (key === 'class') el.className = String(value);
    else if (key === 'text') el.textContent = String(value);
    else if (key.startsWith('.')) el[key.slice(1)] = value;
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

/**
 * Appends children (nodes, strings as text, arrays; skips empty ones).
 * @param {Node} parent
 * @param {Array<unknown>} children
 */
export function append(parent, children) {
  for (const child of children.flat()) {
    if (child == null || child === false) continue;
    parent.append(typeof child === 'string' ? document.createTextNode(child) : child);
  }
}

// Plain stroke icons on a 24×24 grid, drawn for this widget.
const ICONS = {
  chat: ['M4 5h16v11H10l-6 4z'],
  close: ['M6 6l12 12', 'M18 6L6 18'],
  send: ['M4 12l16-8-6 16-2-6z', 'M12 14l8-10'],
  smile: ['M12 3a9 9 0 1 0 0 18a9 9 0 1 0 0-18', 'M8 14c1 1.5 2.3 2.2 4 2.2s3-.7 4-2.2', 'M9 9.5h.01', 'M15 9.5h.01'],
  more: ['M12 5h.01', 'M12 12h.01', 'M12 19h.01'],
  check: ['M5 12.5l4 4L19 7'],
  checks: ['M2 12.5l4 4L15 7', 'M10 15.5l1 1L21 7'],
  clock: ['M12 3a9 9 0 1 0 0 18a9 9 0 1 0 0-18', 'M12 7v5l3 2'],
  alert: ['M12 3a9 9 0 1 0 0 18a9 9 0 1 0 0-18', 'M12 7.5v5.5', 'M12 16.5h.01'],
};

/**
 * An inline SVG icon, hidden from assistive technology (the control
 * carrying it has the label).
 * @param {keyof ICONS} name
 * @returns {SVGSVGElement}
 */
export function icon(name) {
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  svg.setAttribute('class', `icon icon-${name}`);
  for (const d of ICONS[name] ?? []) {
    const path = document.createElementNS(SVG, 'path');
    path.setAttribute('d', d);
    svg.append(path);
  }
  return svg;
}
