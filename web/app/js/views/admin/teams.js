// Admin: teams. Name, members, assignment mode, overflow to a fallback
// team, SLA targets.

import { h, replace, icon } from '../../dom.js';
import * as api from '../../api.js';
import * as live from '../../live.js';
import { openDialog, field, confirmDialog } from '../../ui/dialog.js';
import { seconds } from '../../format.js';
import { page, table, input, select, checkboxes, checkedValues, failed, numberOrNull } from './common.js';

/** `<sb-admin-teams>` */
export class AdminTeams extends HTMLElement {
  connectedCallback() {
    this.load();
  }

  async load() {
    try {
      await live.loadTeams();
      this.users = await api.all('/users', { active: true });
      this.draw();
    } catch (e) {
      failed('load the teams')(e);
    }
  }

  draw() {
    const teams = [...live.state.teams.values()];
    const names = new Map(this.users.map((u) => [u.id, u.name]));
    replace(this, ...page('Teams', 'Queues that conversations wait in, who serves them, and what happens when they wait too long.',
      [h('button', { class: 'btn btn-primary', onClick: () => this.edit(null) }, icon('plus'), 'New team')],
      table('Teams', [
        ['Team', (t) => h('strong', {}, t.name)],
        ['Members', (t) => t.member_ids.map((id) => names.get(id) ?? `#${id}`).join(', ') || '—'],
        ['Assignment', (t) => t.auto_assign ? 'automatic' : 'agents pick'],
        ['Overflow', (t) => t.fallback_team_id ? `to ${live.state.teams.get(t.fallback_team_id)?.name ?? '?'} after ${seconds(t.overflow_after_s)}` : '—'],
        ['SLA', (t) => [t.sla_first_response_s ? `first reply ${seconds(t.sla_first_response_s)}` : null,
          t.sla_resolution_s ? `resolve ${seconds(t.sla_resolution_s)}` : null].filter(Boolean).join(', ') || '—'],
        ['', (t) => h('div', { class: 'row-actions' },
          h('button', { class: 'btn btn-small', onClick: () => this.edit(t), 'aria-label': `Edit ${t.name}` }, 'Edit'),
          h('button', { class: 'btn btn-small btn-danger-ghost', onClick: () => this.remove(t), 'aria-label': `Delete ${t.name}` }, 'Delete'))],
      ], teams, (t) => t.name)));
  }

  async edit(team) {
    const others = [...live.state.teams.values()].filter((t) => t.id !== team?.id);
    const name = input('name', team?.name, { required: true });
    const auto = h('input', { type: 'checkbox', name: 'auto_assign', checked: team ? team.auto_assign : true });
    const fallback = select('fallback_team_id', [['', 'None'], ...others.map((t) => [String(t.id), t.name])], team?.fallback_team_id);
    const overflow = input('overflow_after_s', team?.overflow_after_s ?? '', { type: 'number', min: 1 });
    const first = input('sla_first_response_s', team?.sla_first_response_s ?? '', { type: 'number', min: 1 });
    const resolution = input('sla_resolution_s', team?.sla_resolution_s ?? '', { type: 'number', min: 1 });
    const members = checkboxes('Members', 'members', this.users.map((u) => [u.id, `${u.name} (${u.role})`]), team?.member_ids ?? []);
    const saved = await openDialog({
      title: team ? `Edit ${team.name}` : 'New team',
      submitLabel: team ? 'Save' : 'Create team',
      wide: true,
      body: h('div', { class: 'form-grid' },
        field('Name', name),
        h('label', { class: 'check field' }, auto, 'Assign automatically (by capacity and skills)'),
        field('Overflow to', fallback), field('Overflow after (seconds)', overflow),
        field('First reply due within (seconds)', first), field('Resolve within (seconds)', resolution),
        members),
      submit: async (form) => {
        const body = {
          name: name.value.trim(), auto_assign: auto.checked,
          fallback_team_id: numberOrNull(fallback.value), overflow_after_s: numberOrNull(overflow.value),
          sla_first_response_s: numberOrNull(first.value), sla_resolution_s: numberOrNull(resolution.value),
        };
        if (!team) {
          for (const k of Object.keys(body)) if (body[k] === null) delete body[k];
        }
        const saved = team ? await api.patch(`/teams/${team.id}`, body) : await api.post('/teams', body);
        return api.put(`/teams/${saved.id}/members`, { user_ids: checkedValues(form, 'members').map(Number) });
      },
    });
    if (saved) {
      live.toast({ kind: 'info', title: team ? `Saved ${saved.name}` : `Created ${saved.name}` });
      this.load();
    }
  }

  async remove(team) {
    if (!await confirmDialog(`Delete ${team.name}?`, 'Its members stay; rules and teams pointing at it lose the reference. A team with open conversations cannot be deleted.', 'Delete')) return;
    try {
      await api.del(`/teams/${team.id}`);
      this.load();
    } catch (e) {
      failed('delete the team')(e);
    }
  }
}

customElements.define('sb-admin-teams', AdminTeams);
