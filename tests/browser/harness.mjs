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
