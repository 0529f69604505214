// The emoji picker: a small, fixed set in a keyboard-navigable grid
// (arrow keys move, Enter/Space picks, Escape closes).

import { h } from './dom.js';

/** [emoji, name] pairs, grouped loosely: faces, hands, hearts, things. */
const EMOJI = [
  ['😀', 'grinning'], ['😃', 'smiley'], ['😄', 'smile'], ['😁', 'beaming'], ['😅', 'sweat smile'],
  ['😂', 'tears of joy'], ['🙂', 'slight smile'], ['😉', 'wink'], ['😊', 'blush'], ['😍', 'heart eyes'],
  ['😘', 'kiss'], ['😎', 'cool'], ['🤔', 'thinking'], ['😐', 'neutral'], ['😕', 'confused'],
  ['🙁', 'frown'], ['😢', 'cry'], ['😭', 'sob'], ['😡', 'angry'], ['😱', 'scream'],
  ['😴', 'sleeping'], ['🤯', 'mind blown'], ['🥳', 'party'], ['😇', 'halo'], ['🙃', 'upside down'],
  ['👍', 'thumbs up'], ['👎', 'thumbs down'], ['👌', 'ok hand'], ['👏', 'clap'], ['🙌', 'raised hands'],
  ['🙏', 'thank you'], ['👋', 'wave'], ['🤝', 'handshake'], ['✌️', 'victory'], ['💪', 'strong'],
  ['❤️', 'red heart'], ['💙', 'blue heart'], ['💚', 'green heart'], ['💔', 'broken heart'], ['✨', 'sparkles'],
  ['🔥', 'fire'], ['⭐', 'star'], ['🎉', 'tada'], ['✅', 'check mark'], ['❌', 'cross mark'],
  ['❓', 'question'], ['❗', 'exclamation'], ['💡', 'idea'], ['📦', 'package'], ['🚚', 'delivery truck'],
  ['💳', 'credit card'], ['💰', 'money bag'], ['🧾', 'receipt'], ['📧', 'email'], ['📱', 'phone'],
  ['💻', 'laptop'], ['🔧', 'wrench'], ['⏰', 'alarm clock'], ['☕', 'coffee'], ['🍕', 'pizza'],
];

/** Columns of the grid (arrow-key steps follow it). */
const COLUMNS = 8;

/**
 * Builds the picker. It is a non-modal dialog; `onPick(emoji)` gets the
 * choice, `onClose()` is called on Escape.
 * @param {{label: string, onPick: (emoji: string) => void, onClose: () => void}} opts
 * @returns {{element: HTMLElement, focus: () => void}}
 */
export function createEmojiPicker({ label, onPick, onClose }) {
  let active = 0;
  const buttons = EMOJI.map(([emoji, name], i) =>
    h('button', {
      type: 'button',
      class: 'emoji',
      role: 'gridcell',
      'aria-label': name,
      title: name,
      tabindex: i === 0 ? '0' : '-1',
      text: emoji,
      onclick: () => onPick(emoji),
    }),
  );
  const rows = [];
  for (let i = 0; i < buttons.length; i += COLUMNS) {
    rows.push(h('div', { role: 'row' }, buttons.slice(i, i + COLUMNS)));
  }
  const grid = h('div', { class: 'emoji-grid', role: 'grid', 'aria-label': label }, rows);
  const move = (to) => {
    const next = Math.max(0, Math.min(buttons.length - 1, to));
    buttons[active].tabIndex = -1;
    buttons[next].tabIndex = 0;
    buttons[next].focus();
    active = next;
  };
  grid.addEventListener('keydown', (e) => {
    const steps = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: COLUMNS, ArrowUp: -COLUMNS };
    if (e.key in steps) {
      e.preventDefault();
      move(active + steps[e.key]);
    } else if (e.key === 'Home') {
      e.preventDefault();
      move(0);
    } else if (e.key === 'End') {
      e.preventDefault();
      move(buttons.length - 1);
    } else if (e.key === 'Escape') {
      e.preventDefault();
      e.stopPropagation();
      onClose();
    }
  });
  grid.addEventListener('focusin', (e) => {
    const i = buttons.indexOf(/** @type {HTMLButtonElement} */ (e.target));
    if (i >= 0 && i !== active) {
      buttons[active].tabIndex = -1;
      buttons[i].tabIndex = 0;
      active = i;
    }
  });
  const element = h('div', { class: 'emoji-picker', role: 'dialog', 'aria-label': label }, grid);
  return { element, focus: () => buttons[active].focus() };
}
