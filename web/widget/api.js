// The widget's REST calls (§7.6 of docs/protocol.md). The visitor token goes
// in the Authorization header; no cookies are ever sent.

/** A refused call, with the problem+json body when there was one. */
export class ApiError extends Error {
  /**
   * @param {number} status HTTP status (0: the server could not be reached)
   * @param {{detail?: string, errors?: Array<{field: string, message: string}>}|null} problem
   */
  constructor(status, problem) {
    super(problem?.detail || `request failed (${status})`);
    this.status = status;
    this.problem = problem;
  }
}

/**
 * The REST client for one server.
 * @param {string} server base URL ending in "/"
 */
export function createApi(server) {
  async function call(method, path, { body, token, raw = false } = {}) {
    const headers = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (token) headers.authorization = `Bearer ${token}`;
    let res;
    try {
      res = await fetch(`${server}api/v1/${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: 'omit',
        mode: 'cors',
        cache: 'no-store',
      });
    } catch {
      throw new ApiError(0, null);
    }
    if (!res.ok) {
      let problem = null;
      try {
        problem = await res.json();
      } catch {
        // Not problem+json (a proxy in between): the status says enough.
      }
      throw new ApiError(res.status, problem);
    }
    if (raw) return res;
    return res.status === 204 ? null : res.json();
  }
  return {
    /** Settings, availability and expected wait. */
    init: (facts = {}) => call('POST', 'widget/init', { body: facts }),
    /** Starts a live conversation from the pre-chat form. */
    startSession: (form) => call('POST', 'widget/sessions', { body: form }),
    /** Leaves a message while nobody is available. */
    leaveMessage: (form) => call('POST', 'widget/offline-messages', { body: form }),
    /** The visitor's conversation: state, agent, read marks, rating. */
    conversation: (token) => call('GET', 'widget/conversation', { token }),
    /** Rates the closed conversation once. */
    rate: (token, score, comment) => call('POST', 'widget/csat', { token, body: { score, comment } }),
    /** The transcript as a Blob with its file name. */
    async transcript(token, format) {
      const res = await call('GET', `widget/transcript?format=${encodeURIComponent(format)}`, { token, raw: true });
      const disposition = res.headers.get('content-disposition') || '';
      const name = /filename="?([^";]+)"?/.exec(disposition)?.[1] || `transcript.${format === 'html' ? 'html' : 'txt'}`;
      return { blob: await res.blob(), name };
    },
  };
}
