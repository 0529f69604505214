// The login session: the access JWT (15 minutes) and the refresh token,
// rotated before the access token expires.
//
// Kept in sessionStorage, one copy per browser tab: refresh tokens work
// once, so two tabs sharing one would race, and the server ends the whole
// session when a spent token is presented again.

const KEY = 'switchboard.session';
/** Refresh this long before the access token expires. */
const EARLY_MS = 60_000;

/**
 * @typedef {{access_token: string, refresh_token: string, expires_at: number, user: any}} Session
 */

/** @type {Session | null} */
let session = load();
/** @type {Promise<Session> | null} */
let refreshing = null;
let timer = 0;
/** @type {Set<(s: Session | null) => void>} */
const listeners = new Set();

function load() {
  try {
    const raw = sessionStorage.getItem(KEY);
    return raw ? JSON.parse(raw) : null;
  } catch {
    return null;
  }
}

function save(next) {
  session = next;
  if (next) sessionStorage.setItem(KEY, JSON.stringify(next));
  else sessionStorage.removeItem(KEY);
  schedule();
  for (const fn of listeners) fn(session);
}

function schedule() {
  clearTimeout(timer);
  if (!session) return;
  const wait = Math.max(1000, session.expires_at - Date.now() - EARLY_MS);
  timer = setTimeout(() => refresh().catch(() => {}), wait);
}

/** Turns a token answer into a session. */
function fromAnswer(answer) {
  return {
    access_token: answer.access_token,
    refresh_token: answer.refresh_token,
    expires_at: Date.now() + answer.expires_in * 1000,
    user: answer.user,
  };
}

async function post(path, body) {
  const res = await fetch(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const data = res.status === 204 ? null : await res.json().catch(() => null);
  if (!res.ok) {
    const err = new Error(data?.detail ?? `HTTP ${res.status}`);
    err.status = res.status;
    err.problem = data;
    throw err;
  }
  return data;
}

/** The current session, or null when logged out. */
export function current() {
  return session;
}

/**
 * Subscribes to logins, refreshes and logouts.
 * @param {(s: Session | null) => void} fn
 */
export function onChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/**
 * Logs in; throws with `status` 401/429 and the problem on failure.
 * @param {string} email
 * @param {string} password
 */
export async function login(email, password) {
  save(fromAnswer(await post('/api/v1/auth/login', { email, password })));
  return session;
}

/**
 * Rotates the refresh token. Concurrent callers share one request, since a
 * token presented twice ends the session. A refused refresh logs out.
 */
export function refresh() {
  if (!session) return Promise.reject(new Error('not logged in'));
  if (!refreshing) {
    const token = session.refresh_token;
    refreshing = post('/api/v1/auth/refresh', { refresh_token: token })
      .then((answer) => {
        save(fromAnswer(answer));
        return session;
      })
      .catch((e) => {
        if (e.status === 401) save(null);
        throw e;
      })
      .finally(() => { refreshing = null; });
  }
  return refreshing;
}

/** A valid access token, refreshed first when it is about to expire. */
export async function accessToken() {
  if (!session) throw new Error('not logged in');
  if (session.expires_at - Date.now() < EARLY_MS) await refresh();
  return session.access_token;
}

/** Ends the session on the server (best effort) and here. */
export async function logout() {
  const token = session?.refresh_token;
  save(null);
  if (token) await post('/api/v1/auth/logout', { refresh_token: token }).catch(() => {});
}

/** Forgets the session without telling the server (it already ended it). */
export function forget() {
  save(null);
}

/** Keeps the user object fresh after `/me` or `hello`. */
export function setUser(user) {
  if (session) save({ ...session, user });
}

// A tab that slept past its timer refreshes as soon as it wakes.
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible' && session
      && session.expires_at - Date.now() < EARLY_MS) {
    refresh().catch(() => {});
  }
});
schedule();
