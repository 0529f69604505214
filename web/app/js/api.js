// REST calls with the session's bearer token. A 401 is retried once after
// a token refresh (the access token may have expired while a tab slept).

import * as session from './session.js';

/** A refused or failed REST call, carrying the RFC 9457 problem. */
export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {any} problem
   */
  constructor(status, problem) {
    super(problem?.detail ?? `request failed (${status})`);
    this.status = status;
    this.code = problem?.code ?? 'internal';
    /** @type {{field: string, message: string}[]} */
    this.fields = problem?.errors ?? [];
  }
}

async function once(method, path, body) {
  const token = await session.accessToken();
  const res = await fetch(`/api/v1${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  const data = res.status === 204 ? null : await res.json().catch(() => null);
  return { res, data };
}

/**
 * Calls `/api/v1{path}`; resolves with the JSON answer (null for 204).
 * @param {'GET'|'POST'|'PUT'|'PATCH'|'DELETE'} method
 * @param {string} path
 * @param {any} [body]
 */
export async function request(method, path, body) {
  let { res, data } = await once(method, path, body);
  if (res.status === 401 && session.current()) {
    try {
      await session.refresh();
    } catch {
      session.forget();
      throw new ApiError(401, data);
    }
    ({ res, data } = await once(method, path, body));
    if (res.status === 401) session.forget();
  }
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

/** @param {string} path */
export const get = (path) => request('GET', path);
/** @param {string} path @param {any} body */
export const post = (path, body = {}) => request('POST', path, body);
/** @param {string} path @param {any} body */
export const put = (path, body) => request('PUT', path, body);
/** @param {string} path @param {any} body */
export const patch = (path, body) => request('PATCH', path, body);
/** @param {string} path */
export const del = (path) => request('DELETE', path);

/**
 * A query string from the defined values of `params`.
 * @param {Record<string, any>} params
 */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

/**
 * Every page of a cursor-paged list.
 * @param {string} path without query
 * @param {Record<string, any>} [params]
 */
export async function all(path, params = {}) {
  const items = [];
  let cursor;
  do {
    const page = await get(path + query({ ...params, limit: 200, cursor }));
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor);
  return items;
}
