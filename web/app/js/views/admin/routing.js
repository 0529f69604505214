// Admin: routing rules. Which team, priority and skills a new conversation
// gets from its pre-chat facts; tried in order, the first match wins.

import { h, replace, icon } from '../../dom.js';
import * as api from '../../api.js';
import * as live from '../../live.js';
import { openDialog, field, confirmDialog } from '../../ui/dialog.js';
import { page, table, input, select, pairEditor, levelInput, failed } from './common.js';

/** `<sb-admin-routing>` */
export class AdminRouting extends HTMLElement {
  connectedCallback() {
    this.load();
  }

  async load() {
    try {
      this.rules = (await api.get('/routing-rules')).items;
      this.draw();
    } catch (e) {
      failed('load the routing rules')(e);
    }
  }

  draw() {
    const team = (id) => live.state.teams.get(id)?.name ?? '—';
    replace(this, ...page('Routing rules', 'Tried in order when a conversation starts; the first rule whose conditions all hold decides. Without a match the team is chosen by issue type.',
      [h('button', { class: 'btn btn-primary', onClick: () => this.edit(null) }, icon('plus'), 'New rule')],
      table('Routing rules', [
        ['#', (r) => String(r.position)],
        ['Rule', (r) => h('strong', {}, r.name)],
        ['When', (r) => describe(r.conditions)],
        ['Then', (r) => [`team ${team(r.team_id)}`, r.priority ? `priority ${r.priority}` : null,
          Object.keys(r.required_skills).length ? `needs ${Object.entries(r.required_skills).map(([k, v]) => `${k} ≥ ${v}`).join(', ')}` : null]
          .filter(Boolean).join(' · ')],
        ['Active', (r) => (r.active ? 'yes' : 'no')],
        ['', (r) => h('div', { class: 'row-actions' },
          h('button', { class: 'btn btn-small', onClick: () => this.edit(r), 'aria-label': `Edit ${r.name}` }, 'Edit'),
          h('button', { class: 'btn btn-small btn-danger-ghost', onClick: () => this.remove(r), 'aria-label': `Delete ${r.name}` }, 'Delete'))],
      ], this.rules, (r) => r.name)));
  }

  async edit(rule) {
    const c = rule?.conditions ?? {};
    const name = input('name', rule?.name, { required: true });
    const position = input('position', rule?.position ?? '', { type: 'number', placeholder: 'last' });
    const issue = input('conditions.issue_type', c.issue_type ?? '');
    const language = input('conditions.language', c.language ?? '', { placeholder: 'e.g. es' });
    const channel = select('conditions.channel', [['', 'Any'], ['widget', 'Widget'], ['whatsapp', 'WhatsApp'], ['api', 'API']], c.channel);
    const custom = pairEditor('Custom fields must equal', Object.entries(c.custom_fields ?? {}), { keyLabel: 'Field', valueLabel: 'Value' });
    const team = select('team_id', [['', 'Choose by issue type'], ...[...live.state.teams.values()].map((t) => [String(t.id), t.name])], rule?.team_id);
    const priority = input('priority', rule?.priority ?? 0, { type: 'number', min: -100, max: 100 });
    const skills = pairEditor('Required skills', Object.entries(rule?.required_skills ?? {}), { keyLabel: 'Skill', valueLabel: 'Level', valueInput: levelInput });
    const active = h('input', { type: 'checkbox', name: 'active', checked: rule ? rule.active : true });
    const saved = await openDialog({
      title: rule ? `Edit ${rule.name}` : 'New routing rule',
      submitLabel: rule ? 'Save' : 'Create rule',
      wide: true,
      body: h('div', { class: 'form-grid' },
        field('Name', name), field('Position', position, 'Lower is tried first'),
        h('h3', { class: 'form-section' }, 'When'),
        field('Issue type', issue), field('Language', language), field('Channel', channel), custom.el,
        h('h3', { class: 'form-section' }, 'Then'),
        field('Team', team), field('Priority', priority, '−100 … 100, higher is served first'), skills.el,
        h('label', { class: 'check field' }, active, 'Active')),
      submit: () => {
        const conditions = {};
        if (issue.value.trim()) conditions.issue_type = issue.value.trim();
        if (language.value.trim()) conditions.language = language.value.trim();
        if (channel.value) conditions.channel = channel.value;
        const fields = custom.read();
        if (fields.length) conditions.custom_fields = Object.fromEntries(fields);
        const body = {
          name: name.value.trim(), conditions, priority: Number(priority.value || 0), active: active.checked,
          required_skills: Object.fromEntries(skills.read().map(([k, v]) => [k, Number(v)])),
        };
        if (position.value !== '') body.position = Number(position.value);
        if (team.value) body.team_id = Number(team.value);
        return rule ? api.patch(`/routing-rules/${rule.id}`, body) : api.post('/routing-rules', body);
      },
    });
    if (saved) {
      live.toast({ kind: 'info', title: rule ? `Saved ${saved.name}` : `Created ${saved.name}` });
      this.load();
    }
  }

  async remove(rule) {
    if (!await confirmDialog(`Delete ${rule.name}?`, 'Conversations already routed keep their team.', 'Delete')) return;
    try {
      await api.del(`/routing-rules/${rule.id}`);
      this.load();
    } catch (e) {
      failed('delete the rule')(e);
    }
  }
}

function describe(c) {
  const parts = [];
  if (c.issue_type) parts.push(`issue is ${c.issue_type}`);
  if (c.language) parts.push(`language is ${c.language}`);
  if (c.channel) parts.push(`channel is ${c.channel}`);
  for (const [k, v] of Object.entries(c.custom_fields ?? {})) parts.push(`${k} = ${v}`);
  return parts.join(' and ') || 'always';
}

customElements.define('sb-admin-routing', AdminRouting);
