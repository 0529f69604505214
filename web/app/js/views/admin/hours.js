// Admin: business hours per team. A weekly schedule in the team's time
// zone, and holidays. Without hours a team is always open.

import { h, replace } from '../../dom.js';
import * as api from '../../api.js';
import * as live from '../../live.js';
import { field, confirmDialog, showError } from '../../ui/dialog.js';
import { page, select, failed } from './common.js';

const DAYS = [['mon', 'Monday'], ['tue', 'Tuesday'], ['wed', 'Wednesday'], ['thu', 'Thursday'],
  ['fri', 'Friday'], ['sat', 'Saturday'], ['sun', 'Sunday']];

function zones() {
  try {
    return Intl.supportedValuesOf('timeZone');
  } catch {
    return ['UTC'];
  }
}

/** `<sb-admin-hours>` */
export class AdminHours extends HTMLElement {
  connectedCallback() {
    this.teamId = this.teamId ?? [...live.state.teams.keys()][0] ?? null;
    this.load();
  }

  async load() {
    // Only the latest team's answer is drawn, however the requests race.
    const token = (this.loading = {});
    let hours = null;
    if (this.teamId !== null) {
      try {
        hours = await api.get(`/teams/${this.teamId}/business-hours`);
      } catch (e) {
        if (e.status !== 404) failed('load the hours')(e);
      }
    }
    if (token !== this.loading) return;
    this.hours = hours;
    this.draw();
  }

  draw() {
    const teams = [...live.state.teams.values()];
    const teamSel = select('team', teams.map((t) => [String(t.id), t.name]), this.teamId);
    teamSel.setAttribute('aria-label', 'Team');
    teamSel.addEventListener('change', () => {
      // Picking the team already shown must not redraw over the edits.
      if (Number(teamSel.value) === this.teamId) return;
      this.teamId = Number(teamSel.value);
      this.load();
    });
    const hrs = this.hours;
    const tz = h('input', { type: 'text', name: 'timezone', list: 'tz-list', value: hrs?.timezone ?? Intl.DateTimeFormat().resolvedOptions().timeZone ?? 'UTC', required: true });
    const days = h('div', { class: 'days' }, DAYS.map(([key, label]) => this.dayRow(key, label, hrs?.schedule?.[key] ?? (hrs ? [] : defaultDay(key)))));
    const holidays = h('textarea', { name: 'holidays', rows: 3, placeholder: '2026-12-25, one date per line' });
    holidays.value = (hrs?.holidays ?? []).join('\n');
    const error = h('p', { class: 'form-error', role: 'alert', hidden: true });
    const form = h('form', { class: 'card form-card', 'aria-label': 'Business hours', dataset: { team: String(this.teamId) } },
      h('div', { class: 'form-grid' }, field('Time zone', tz), field('Holidays (closed)', holidays, 'YYYY-MM-DD, one per line')),
      h('h3', { class: 'form-section' }, 'Weekly schedule'),
      days, error,
      h('div', { class: 'form-actions' },
        hrs ? h('button', { type: 'button', class: 'btn btn-danger-ghost', onClick: () => this.remove() }, 'Always open (remove hours)') : null,
        h('button', { type: 'submit', class: 'btn btn-primary' }, 'Save hours')));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      error.hidden = true;
      const schedule = {};
      for (const [key] of DAYS) {
        const spans = [...days.querySelectorAll(`[data-day="${key}"] .span`)]
          .map((s) => [s.querySelector('.from').value, s.querySelector('.to').value])
          .filter(([a, b]) => a && b);
        if (spans.length) schedule[key] = spans;
      }
      const body = {
        timezone: tz.value.trim(), schedule,
        holidays: holidays.value.split(/[\s,]+/).map((x) => x.trim()).filter(Boolean),
      };
      try {
        this.hours = await api.put(`/teams/${this.teamId}/business-hours`, body);
        live.toast({ kind: 'info', title: 'Business hours saved' });
        this.draw();
      } catch (err) {
        showError(error, err, form);
      }
    });
    replace(this, ...page('Business hours', 'When each team is open. The widget offers "leave a message" outside these hours.', [],
      h('datalist', { id: 'tz-list' }, zones().map((z) => h('option', { value: z }))),
      teams.length ? h('div', { class: 'toolbar' }, h('label', { class: 'field inline' }, h('span', { class: 'field-label' }, 'Team'), teamSel),
        h('span', { class: `badge ${hrs ? (hrs.open_now ? 'badge-assigned' : 'badge-closed') : 'badge-queued'}` },
          hrs ? (hrs.open_now ? 'open now' : `closed${hrs.next_open ? `, opens ${new Date(hrs.next_open).toLocaleString()}` : ''}`) : 'no hours: always open'))
        : h('p', { class: 'empty' }, 'Create a team first.'),
      teams.length ? form : null));
  }

  dayRow(key, label, spans) {
    const list = h('div', { class: 'spans' });
    const add = (from = '09:00', to = '17:00') => {
      const span = h('div', { class: 'span' },
        h('input', { type: 'time', class: 'from', value: from, 'aria-label': `${label} from` }),
        h('span', { 'aria-hidden': 'true' }, '–'),
        h('input', { type: 'time', class: 'to', value: to, 'aria-label': `${label} until` }),
        h('button', { type: 'button', class: 'icon-btn', 'aria-label': `Remove ${label} hours`, onClick: () => span.remove() }, '×'));
      list.append(span);
    };
    for (const [from, to] of spans) add(from, to);
    return h('div', { class: 'day-row', dataset: { day: key } },
      h('span', { class: 'day-name' }, label), list,
      h('button', { type: 'button', class: 'btn btn-small', 'aria-label': `Add hours on ${label}`, onClick: () => add() }, '+ Hours'));
  }

  async remove() {
    if (!await confirmDialog('Remove the hours?', 'The team counts as always open.', 'Remove')) return;
    try {
      await api.del(`/teams/${this.teamId}/business-hours`);
      this.load();
    } catch (e) {
      failed('remove the hours')(e);
    }
  }
}

function defaultDay(key) {
  return ['sat', 'sun'].includes(key) ? [] : [['09:00', '17:00']];
}

customElements.define('sb-admin-hours', AdminHours);
