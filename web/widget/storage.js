// What the widget keeps across page loads, per server:
// - the session (visitor token, conversation) in localStorage, so the
//   visitor keeps the conversation on every page and tab of the site;
// - the outbox (messages not yet acknowledged) and the panel state in
//   sessionStorage: per tab, so two tabs never resend each other's drafts,
//   yet a navigation in the same tab carries them over.
// Storage can be missing or throw (privacy modes); memory is the fallback.

const VERSION = 'v1';

function area(name) {
  try {
    const s = window[name];
    const probe = '__switchboard_probe__';
    s.setItem(probe, '1');
    s.removeItem(probe);
    return s;
  } catch {
    return null;
  }
}

/**
 * A small key-value store for one server.
 * @param {string} server the server's base URL
 */
export function createStorage(server) {
  const memory = new Map();
  const local = area('localStorage');
  const session = area('sessionStorage');
  const key = (k) => `switchboard:${VERSION}:${server}:${k}`;
  const read = (store, k) => {
    try {
      const raw = store ? store.getItem(key(k)) : memory.get(key(k));
      return raw ? JSON.parse(raw) : null;
    } catch {
      return null;
    }
  };
  const write = (store, k, value) => {
    const raw = value == null ? null : JSON.stringify(value);
    try {
      if (!store) throw new Error('no storage');
      if (raw == null) store.removeItem(key(k));
      else store.setItem(key(k), raw);
    } catch {
      if (raw == null) memory.delete(key(k));
      else memory.set(key(k), raw);
    }
  };
  return {
    /** @returns {{token: string, conversation_id: number, visitor_id?: number, name?: string}|null} */
    loadSession: () => read(local, 'session'),
    saveSession: (s) => write(local, 'session', s),
    clearSession: () => {
      write(local, 'session', null);
      write(session, 'outbox', null);
    },
    /** @returns {Array<{client_msg_id: string, text: string, created_at: string, failed?: string}>} */
    loadOutbox: () => read(session, 'outbox') ?? [],
    saveOutbox: (items) => write(session, 'outbox', items.length ? items : null),
    /** @returns {{open?: boolean, draft?: string}} */
    loadUi: () => read(session, 'ui') ?? {},
    saveUi: (ui) => write(session, 'ui', ui),
  };
}
