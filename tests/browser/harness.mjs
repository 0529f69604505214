// Shared set-up for the browser tests: start the real `switchboard serve`
// on a free port with its own data directory, launch Debian's chromium, and
// give tests small helpers (REST calls as admin, screenshots).
//
// SWITCHBOARD_BIN picks the binary (default: target/debug/switchboard, built
// by `cargo build` first); CHROMIUM the browser (default /usr/bin/chromium).

import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
/** The repository root. */
export const root = resolve(here, '..', '..');
/** Where screenshots go (kept by CI as artifacts). */
export const screenshotDir = join(root, 'target', 'screenshots');

export const ADMIN_EMAIL = 'admin@browser.test';
export const ADMIN_PASSWORD = 'admin-password-1';

/** Starts a server; resolves once it printed its address. */
export async function startServer({ args = [], env = {} } = {}) {
  const bin = process.env.SWITCHBOARD_BIN ?? join(root, 'target', 'debug', 'switchboard');
  const dataDir = mkdtempSync(join(tmpdir(), 'sb-browser-'));
  const child = spawn(bin, ['serve', '--bind', '127.0.0.1:0', '--data-dir', dataDir, ...args], {
    cwd: root,
    env: {
      ...process.env,
      SWITCHBOARD_ADMIN_EMAIL: ADMIN_EMAIL,
      SWITCHBOARD_ADMIN_PASSWORD: ADMIN_PASSWORD,
      SWITCHBOARD_PROFILE: 'test',
      RUST_LOG: process.env.TEST_LOG ? 'info' : 'warn',
      ...env,
    },
    stdio: ['ignore', 'pipe', process.env.TEST_LOG ? 'inherit' : 'pipe'],
  });
  let output = '';
  const url = await new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`server did not start:\n${output}`)), 30000);
    child.stdout.on('data', (chunk) => {
      output += chunk;
      const m = /listening on (http:\/\/\S+)/.exec(output);
      if (m) {
        clearTimeout(timer);
        ok(m[1]);
      }
    });
    child.stderr?.on('data', (chunk) => { output += chunk; });
    child.on('exit', (code) => fail(new Error(`server exited with ${code}:\n${output}`)));
  });
  return {
    url,
    output: () => output,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((ok) => (child.exitCode !== null ? ok() : child.on('exit', ok)));
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Launches headless chromium with the flags this machine needs. */
export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
      '--disable-background-networking', '--disable-quic', '--disable-component-update',
      '--disable-sync'],
  });
}

/** A JSON REST call; throws with the problem body on a non-2xx status. */
export async function api(server, method, path, body, token) {
  const res = await fetch(server.url + path, {
    method,
    headers: {
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  const json = text ? JSON.parse(text) : null;
  if (!res.ok) throw new Error(`${method} ${path} → ${res.status}: ${text}`);
  return json;
}

/** Logs in; returns the login answer (`access_token`, `user`, …). */
export function login(server, email = ADMIN_EMAIL, password = ADMIN_PASSWORD) {
  return api(server, 'POST', '/api/v1/auth/login', { email, password });
}

/**
 * Saves a screenshot as target/screenshots/<name>.png: the full page, or
 * only the viewport with `{ fullPage: false }` (for fixed-position UI).
 */
export async function screenshot(page, name, { fullPage = true } = {}) {
  mkdirSync(screenshotDir, { recursive: true });
  await page.screenshot({ path: join(screenshotDir, `${name}.png`), fullPage });
}

/**
 * Polls `fn` until it returns a truthy value (returned), for server state
 * that changes asynchronously; throws with the last value after `timeout`.
 */
export async function eventually(fn, { timeout = 10000, interval = 100, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`${what} not met within ${timeout} ms; last: ${last instanceof Error ? last.message : JSON.stringify(last)}`);
    await new Promise((ok) => setTimeout(ok, interval));
  }
}

/** Logs in through the staff app's login form and waits for the inbox. */
export async function loginInBrowser(page, server, email, password) {
  await page.goto(`${server.url}/app/`);
  await page.getByLabel('E-mail').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('tab', { name: /Mine/ }).waitFor();
}

/**
 * A scripted customer: starts a widget session over REST and opens the
 * customer socket inside `page` (on a bare page of the server, so nothing
 * else runs there; several customers may share one page). Frames it gets
 * are kept in the page; the returned object sends frames and waits for them.
 */
export async function scriptedCustomer(page, server, body) {
  if (!page.url().startsWith(server.url)) await page.goto(`${server.url}/healthz`);
  const session = await page.evaluate(async (b) => {
    const res = await fetch('/api/v1/widget/sessions', {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(b),
    });
    const s = await res.json();
    if (!res.ok) throw new Error(JSON.stringify(s));
    const ws = new WebSocket(`ws://${location.host}/ws/v1/customer?token=${s.visitor_token}`);
    const me = { ws, frames: [] };
    window.customers = { ...window.customers, [s.conversation_id]: me };
    ws.addEventListener('message', (ev) => me.frames.push(JSON.parse(ev.data)));
    await new Promise((ok, fail) => {
      ws.addEventListener('open', ok);
      ws.addEventListener('error', fail);
    });
    return s;
  }, body);
  const id = session.conversation_id;
  return {
    session,
    conversationId: id,
    /** Sends one frame. */
    send: (frame) => page.evaluate(([c, f]) => window.customers[c].ws.send(JSON.stringify(f)), [id, frame]),
    /** Every frame received so far. */
    frames: () => page.evaluate((c) => window.customers[c].frames, id),
    /** Waits for a frame `pred` accepts (`pred` runs in the page: no closures). */
    waitFor: (pred, timeout = 10000) => page.waitForFunction(
      // eslint-disable-next-line no-eval
      ([c, src]) => window.customers[c].frames.find(eval(src)), [id, pred.toString()], { timeout },
    ).then((h) => h.jsonValue()),
  };
}
