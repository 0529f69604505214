// Formatting for people: times, durations, names. Pure functions (no DOM),
// so they run under Node's test runner as well.

/**
 * "now", "5m", "3h", "2d", then a date.
 * @param {string | number | Date} when
 * @param {number} [now]
 */
export function ago(when, now = Date.now()) {
  const t = new Date(when).getTime();
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 45) return 'now';
  if (s < 3600) return `${Math.round(s / 60)}m`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h`;
  if (s < 7 * 86_400) return `${Math.floor(s / 86_400)}d`;
  return new Date(t).toLocaleDateString(undefined, { day: 'numeric', month: 'short' });
}

/**
 * A waiting time as a clock: "0:42", "12:05", "1:02:03".
 * @param {string | number | Date} since
 * @param {number} [now]
 */
export function waited(since, now = Date.now()) {
  const s = Math.max(0, Math.floor((now - new Date(since).getTime()) / 1000));
  const hh = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return hh ? `${hh}:${String(mm).padStart(2, '0')}:${ss}` : `${mm}:${ss}`;
}

/**
 * A clock time for a message: "14:05", with the day when not today.
 * @param {string | number | Date} when
 * @param {Date} [today]
 */
export function clock(when, today = new Date()) {
  const d = new Date(when);
  const time = d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
  if (d.toDateString() === today.toDateString()) return time;
  return `${d.toLocaleDateString(undefined, { day: 'numeric', month: 'short' })} ${time}`;
}

/**
 * Up to two initials for an avatar.
 * @param {string | null | undefined} name
 */
export function initials(name) {
  const parts = (name ?? '').trim().split(/\s+/).filter(Boolean);
  if (!parts.length) return '?';
  const first = [...parts[0]][0] ?? '';
  const last = parts.length > 1 ? [...parts[parts.length - 1]][0] ?? '' : '';
  return (first + last).toUpperCase();
}

/**
 * A stable hue for a name, so an avatar keeps its colour everywhere.
 * @param {string} key
 */
export function hue(key) {
  let n = 0;
  for (const ch of key) n = (n * 31 + ch.codePointAt(0)) % 360;
  return n;
}

/**
 * The name to show for a conversation's visitor.
 * @param {{visitor?: {id: number, name?: string|null, email?: string|null}}} c
 */
export function visitorName(c) {
  const v = c?.visitor;
  return v?.name || v?.email || (v ? `Visitor #${v.id}` : 'Visitor');
}

/**
 * Seconds as "90 s", "5 min", "2 h".
 * @param {number | null | undefined} s
 */
export function seconds(s) {
  if (s === null || s === undefined) return '—';
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  return `${Math.round(s / 360) / 10} h`;
}

/**
 * Fills a macro's placeholders: `{{name}}` (the visitor's name, or
 * "there"), `{{first_name}}`, `{{email}}`, `{{agent}}`.
 * @param {string} text
 * @param {{visitor?: {name?: string|null, email?: string|null}, agent?: string}} facts
 */
export function fillMacro(text, facts) {
  const name = facts.visitor?.name?.trim() || '';
  const values = {
    name: name || 'there',
    first_name: name.split(/\s+/)[0] || 'there',
    email: facts.visitor?.email ?? '',
    agent: facts.agent ?? '',
  };
  return text.replace(/\{\{\s*(name|first_name|email|agent)\s*\}\}/g, (_, k) => values[k]);
}
