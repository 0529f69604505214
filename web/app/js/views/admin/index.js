// The admin console: a section list and the chosen section
// (`#/admin/users`, `#/admin/teams`, …).

import { h, replace } from '../../dom.js';
import './users.js';
import './teams.js';
import './routing.js';
import './hours.js';
import './widget.js';
import './macros.js';
import './tags.js';

const SECTIONS = [
  ['users', 'Users', 'sb-admin-users'],
  ['teams', 'Teams', 'sb-admin-teams'],
  ['routing', 'Routing rules', 'sb-admin-routing'],
  ['hours', 'Business hours', 'sb-admin-hours'],
  ['widget', 'Widget', 'sb-admin-widget'],
  ['macros', 'Macros', 'sb-admin-macros'],
  ['tags', 'Tags', 'sb-admin-tags'],
];

/** `<sb-admin>` */
export class Admin extends HTMLElement {
  connectedCallback() {
    if (this.built) return;
    this.built = true;
    this.className = 'admin';
    this.side = h('nav', { class: 'admin-nav', 'aria-label': 'Admin sections' });
    this.body = h('div', { class: 'admin-body' });
    this.replaceChildren(this.side, this.body);
    this.route([]);
  }

  route(rest) {
    if (!this.side) return;
    const key = SECTIONS.some(([k]) => k === rest[0]) ? rest[0] : 'users';
    replace(this.side, SECTIONS.map(([k, label]) => h('a', {
      href: `#/admin/${k}`, class: 'admin-link', 'aria-current': k === key ? 'page' : null,
    }, label)));
    if (this.current !== key) {
      this.current = key;
      const [, , tag] = SECTIONS.find(([k]) => k === key);
      replace(this.body, document.createElement(tag));
    }
  }
}

customElements.define('sb-admin', Admin);
