// Admin: staff users. Create, edit role, capacity, teams and skills,
// reset a password, deactivate and reactivate.

import { h, replace, icon } from '../../dom.js';
import * as api from '../../api.js';
import * as live from '../../live.js';
import { openDialog, field, confirmDialog } from '../../ui/dialog.js';
import { page, table, input, select, checkboxes, checkedValues, pairEditor, levelInput, failed } from './common.js';

const ROLES = [['agent', 'Agent'], ['supervisor', 'Supervisor'], ['admin', 'Admin']];

/** `<sb-admin-users>` */
export class AdminUsers extends HTMLElement {
  connectedCallback() {
    this.load();
  }

  async load() {
    try {
      const [users, skills] = await Promise.all([api.all('/users'), api.get('/skills')]);
      this.users = users;
      this.skills = skills.items;
      this.draw();
    } catch (e) {
      failed('load the users')(e);
    }
  }

  draw() {
    const teams = live.state.teams;
    replace(this, ...page('Users', 'Everyone who works in the dashboard, their role, capacity, teams and skills.',
      [h('button', { class: 'btn btn-primary', onClick: () => this.edit(null) }, icon('plus'), 'New user')],
      h('datalist', { id: 'skill-names' }, this.skills.map((s) => h('option', { value: s.name }))),
      table('Users', [
        ['Name', (u) => h('div', { class: 'cell-main' }, h('strong', {}, u.name), h('span', { class: 'muted' }, u.email))],
        ['Role', (u) => h('span', { class: 'badge' }, u.role)],
        ['Status', (u) => u.active ? h('span', { class: 'status' }, h('span', { class: 'status-dot', dataset: { status: u.status } }), u.status)
          : h('span', { class: 'badge badge-closed' }, 'deactivated')],
        ['Capacity', (u) => String(u.capacity)],
        ['Teams', (u) => u.teams.map((t) => teams.get(t.id)?.name ?? t.name).join(', ') || '—'],
        ['Skills', (u) => Object.entries(u.skills).map(([k, v]) => `${k} ${v}`).join(', ') || '—'],
        ['', (u) => h('div', { class: 'row-actions' },
          h('button', { class: 'btn btn-small', onClick: () => this.edit(u), 'aria-label': `Edit ${u.name}` }, 'Edit'),
          h('button', { class: 'btn btn-small', onClick: () => this.password(u), 'aria-label': `Reset password of ${u.name}` }, 'Password'),
          u.active
            ? h('button', { class: 'btn btn-small btn-danger-ghost', onClick: () => this.deactivate(u), 'aria-label': `Deactivate ${u.name}` }, 'Deactivate')
            : h('button', { class: 'btn btn-small', onClick: () => this.reactivate(u), 'aria-label': `Reactivate ${u.name}` }, 'Reactivate'))],
      ], this.users, (u) => u.email)));
  }

  async edit(user) {
    const teams = [...live.state.teams.values()].map((t) => [t.id, t.name]);
    const email = input('email', user?.email, { type: 'email', required: true, autocomplete: 'off' });
    const name = input('name', user?.name, { required: true });
    const password = input('password', '', { type: 'password', autocomplete: 'new-password', minlength: 8 });
    const role = select('role', ROLES, user?.role ?? 'agent');
    const capacity = input('capacity', user?.capacity ?? 3, { type: 'number', min: 1, max: 50 });
    const teamBoxes = checkboxes('Teams', 'team_ids', teams, (user?.teams ?? []).map((t) => t.id));
    const skills = pairEditor('Skills', Object.entries(user?.skills ?? {}), {
      keyLabel: 'Skill', valueLabel: 'Level', valueInput: levelInput, list: 'skill-names',
    });
    const saved = await openDialog({
      title: user ? `Edit ${user.name}` : 'New user',
      submitLabel: user ? 'Save' : 'Create user',
      wide: true,
      body: h('div', { class: 'form-grid' },
        field('Name', name), field('E-mail', email),
        user ? null : field('Password', password, 'At least 8 characters'),
        field('Role', role), field('Capacity', capacity, 'Conversations at once (1–50)'),
        teamBoxes, skills.el),
      submit: async (form) => {
        const body = {
          email: email.value.trim(), name: name.value.trim(), role: role.value,
          capacity: Number(capacity.value),
          team_ids: checkedValues(form, 'team_ids').map(Number),
          skills: Object.fromEntries(skills.read().map(([k, v]) => [k, Number(v)])),
        };
        if (!user) body.password = password.value;
        return user ? api.patch(`/users/${user.id}`, body) : api.post('/users', body);
      },
    });
    if (saved) {
      live.toast({ kind: 'info', title: user ? `Saved ${saved.name}` : `Created ${saved.name}` });
      await live.loadTeams();
      this.load();
    }
  }

  async password(user) {
    const pw = input('password', '', { type: 'password', autocomplete: 'new-password', minlength: 8, required: true });
    const done = await openDialog({
      title: `New password for ${user.name}`,
      submitLabel: 'Set password',
      body: [field('New password', pw, 'Their sessions end; they log in again with this password.')],
      submit: () => api.post(`/users/${user.id}/password`, { password: pw.value }).then(() => true),
    });
    if (done) live.toast({ kind: 'info', title: `Password of ${user.name} changed` });
  }

  async deactivate(user) {
    if (!await confirmDialog(`Deactivate ${user.name}?`, 'They are logged out at once and cannot log in again until reactivated. Their conversations go back to the queue.', 'Deactivate')) return;
    try {
      await api.post(`/users/${user.id}/deactivate`);
      live.toast({ kind: 'info', title: `${user.name} deactivated` });
      this.load();
    } catch (e) {
      failed('deactivate')(e);
    }
  }

  async reactivate(user) {
    try {
      await api.patch(`/users/${user.id}`, { active: true });
      this.load();
    } catch (e) {
      failed('reactivate')(e);
    }
  }
}

customElements.define('sb-admin-users', AdminUsers);
