// The visitor panel beside a conversation: who the customer is (name,
// e-mail, pre-chat answers), what they use (browser, system and device
// from the User-Agent), where they are (page URL), their rating, and
// their earlier conversations.

import { h, replace } from '../dom.js';
import * as api from '../api.js';
import * as live from '../live.js';
import { ago, initials, hue, visitorName } from '../format.js';
import { parseUserAgent, describeAgent } from '../ua.js';

/** `<sb-visitor-panel conversation-id="42">` */
export class VisitorPanel extends HTMLElement {
  connectedCallback() {
    if (this.built) return;
    this.built = true;
    this.cid = Number(this.getAttribute('conversation-id'));
    this.className = 'visitor-panel';
    this.setAttribute('aria-label', 'Visitor');
    this.setAttribute('role', 'complementary');
    this.profile = null;
    this.off = live.bus.on('conversation', (id) => { if (id === this.cid) this.draw(); });
    this.draw();
    this.loadProfile();
  }

  disconnectedCallback() {
    this.off?.();
  }

  async loadProfile() {
    const c = await live.conversation(this.cid).catch(() => null);
    if (!c) return;
    try {
      this.profile = await api.get(`/visitors/${c.visitor.id}`);
    } catch {
      this.profile = null;
    }
    this.draw();
  }

  draw() {
    const c = live.state.conversations.get(this.cid);
    if (!c) return;
    const v = c.visitor ?? {};
    const name = visitorName(c);
    const ua = v.user_agent ?? this.profile?.user_agent ?? null;
    const parsed = parseUserAgent(ua);
    const pageUrl = v.page_url ?? c.attributes?.page_url ?? null;
    const rows = [
      ['E-mail', v.email ? h('a', { href: `mailto:${v.email}` }, v.email) : '—'],
      ['Issue', c.issue_type ?? '—'],
      ['Language', c.language ?? '—'],
      ['Browser', parsed ? `${parsed.browser} ${parsed.browserVersion}`.trim() : '—'],
      ['System', parsed ? `${parsed.os} ${parsed.osVersion}`.trim() : '—'],
      ['Device', parsed ? parsed.device : '—'],
      ['Page', pageUrl && /^https?:\/\//.test(pageUrl) ? h('a', { href: pageUrl, target: '_blank', rel: 'noopener noreferrer' }, pageUrl) : pageUrl ?? '—'],
      ['Started', new Date(c.created_at).toLocaleString()],
    ];
    const attributes = Object.entries(c.attributes ?? {}).filter(([k]) => k !== 'page_url');
    const others = (this.profile?.conversations ?? []).filter((x) => x.id !== c.id);
    replace(this,
      h('div', { class: 'visitor-card' },
        h('span', { class: 'avatar avatar-large', style: { '--hue': hue(name) }, 'aria-hidden': 'true' }, initials(name)),
        h('h3', {}, name),
        parsed ? h('p', { class: 'muted', title: ua }, describeAgent(parsed)) : null),
      h('section', { class: 'panel-section' },
        h('h4', {}, 'Details'),
        h('dl', { class: 'facts' }, rows.flatMap(([k, val]) => [h('dt', {}, k), h('dd', {}, val)]))),
      attributes.length ? h('section', { class: 'panel-section' },
        h('h4', {}, 'Pre-chat answers'),
        h('dl', { class: 'facts' }, attributes.flatMap(([k, val]) => [
          h('dt', {}, k.replace(/_/g, ' ')), h('dd', {}, val === null ? '—' : String(val))]))) : null,
      c.csat ? h('section', { class: 'panel-section' },
        h('h4', {}, 'Rating'),
        h('p', { class: 'csat' }, h('span', { class: 'stars', 'aria-label': `${c.csat.score} out of 5` }, '★'.repeat(c.csat.score) + '☆'.repeat(Math.max(0, 5 - c.csat.score)))),
        c.csat.comment ? h('blockquote', {}, c.csat.comment) : null) : null,
      h('section', { class: 'panel-section' },
        h('h4', {}, 'Previous conversations'),
        others.length ? h('ul', { class: 'history' }, others.map((x) => h('li', {},
          h('a', { href: `#/inbox/${x.id}` },
            h('span', { class: 'history-top' }, h('span', { class: `badge badge-${x.state}` }, x.state), h('span', { class: 'muted' }, ` #${x.id} · ${ago(x.created_at)}`)),
            h('span', { class: 'history-text' }, x.last_message?.text ?? x.issue_type ?? 'No messages'))))) : h('p', { class: 'muted' }, 'None that you can see.'),
        this.profile?.other_conversations ? h('p', { class: 'muted' },
          `${this.profile.other_conversations} more with other teams.`) : null));
  }
}

customElements.define('sb-visitor-panel', VisitorPanel);
