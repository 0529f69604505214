// The public init contract: options override the admin's settings, inline
// mode, preview mode (sample content, no network), update/open/close/
// destroy, language; and the widget's size on the wire.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { startServer, launchBrowser, api, login, screenshot, root } from './harness.mjs';
import { createAgent } from './agent.mjs';

let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  const admin = (await login(server)).access_token;
  await api(server, 'PUT', '/api/v1/widget/settings', {
    title: 'Admin title',
    welcome_message: 'Admin welcome',
    primary_color: '#112233',
    logo_url: null,
    position: 'right',
    pre_chat_fields: [{ name: 'plan', label: 'Your plan', type: 'select', options: ['Free', 'Pro'] }],
    offline_message: 'Admin offline text',
  }, admin);
  // Someone online, so the widget offers live chat.
  const team = await api(server, 'POST', '/api/v1/teams', { name: 'Support' }, admin);
  await createAgent(server, admin, { teamIds: [team.id] });
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** A same-origin test page embedding the widget with `script` (run after the loader). */
async function pageWith(script, body = '') {
  const page = await browser.newPage({ viewport: { width: 1000, height: 760 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  const url = `${server.url}/demo/options-test-${Math.random().toString(36).slice(2)}.html`;
  await page.route(url, (route) => route.fulfill({
    contentType: 'text/html',
    body: `<!doctype html><html><head><meta charset="utf-8"><title>t</title></head><body>${body}
<script src="/widget/switchboard.js"></script><script>${script}</script></body></html>`,
  }));
  await page.goto(url);
  return { page, errors };
}

const headerColor = (page) => page.getByRole('dialog').locator('header').evaluate((el) => getComputedStyle(el).backgroundColor);

test('init options override the admin settings; the rest come from the server', async () => {
  const { page, errors } = await pageWith(`window.sb = Switchboard.init({ title: 'From init', position: 'left', issue_types: ['Returns'] });`);
  const launcher = page.getByRole('button', { name: 'Open chat' });
  await launcher.waitFor();
  const box = await launcher.boundingBox();
  assert.ok(Math.abs(box.x - 20) <= 1, `on the left: ${JSON.stringify(box)}`);
  await page.evaluate(() => window.sb.open());
  await page.getByRole('dialog', { name: 'From init' }).waitFor();
  // The admin settings arrive with the server's answer, after the dialog
  // may already show (the CI run at b604cbf read the colour before them).
  await page.getByText('Admin welcome').waitFor();
  assert.equal(await headerColor(page), 'rgb(17, 34, 51)', 'the admin colour, not overridden');
  assert.deepEqual(await page.getByLabel('Your plan').locator('option').allInnerTexts(), ['Choose…', 'Free', 'Pro']);
  assert.deepEqual(await page.getByLabel('What is it about?').locator('option').allInnerTexts(), ['Choose…', 'Returns']);
  await page.evaluate(() => window.sb.close());
  await page.getByRole('dialog').waitFor({ state: 'hidden' });
  await page.evaluate(() => window.sb.update({ primary_color: '#aa0000', title: 'Updated' }));
  await page.evaluate(() => window.sb.open());
  await page.getByRole('dialog', { name: 'Updated' }).waitFor();
  assert.equal(await headerColor(page), 'rgb(170, 0, 0)');
  await page.evaluate(() => window.sb.destroy());
  assert.equal(await page.locator('switchboard-widget').count(), 0, 'destroy removes it');
  assert.deepEqual(errors, []);
  await page.close();
});

test('preview mode renders sample content inline and touches no API and no socket', async () => {
  const calls = [];
  const page = await browser.newPage({ viewport: { width: 1000, height: 760 } });
  page.on('request', (r) => { if (r.url().includes('/api/')) calls.push(r.url()); });
  page.on('websocket', (ws) => calls.push(ws.url()));
  const url = `${server.url}/demo/preview-test.html`;
  await page.route(url, (route) => route.fulfill({
    contentType: 'text/html',
    body: `<!doctype html><html><head><meta charset="utf-8"><title>preview</title></head><body>
<div id="preview" style="width: 380px; height: 560px"></div>
<script src="/widget/switchboard.js"></script>
<script>window.sb = Switchboard.init({ preview: true, mode: 'inline', target: '#preview', title: 'Preview desk', welcome_message: 'Welcome, **preview**', primary_color: '#7c3aed', logo_url: 'https://example.com/logo.png' });</script>
</body></html>`,
  }));
  await page.goto(url);
  const dialog = page.getByRole('dialog', { name: 'Preview desk' });
  await dialog.waitFor();
  const box = await dialog.boundingBox();
  const slot = await page.locator('#preview').boundingBox();
  assert.deepEqual([box.x, box.y, box.width, box.height], [slot.x, slot.y, slot.width, slot.height], 'fills its target');
  assert.equal(await page.getByRole('button', { name: /^Open chat/, includeHidden: true }).count(), 0, 'no launcher inline');
  assert.equal(await page.getByRole('button', { name: 'Close chat' }).count(), 0, 'nothing to close inline');
  await page.getByText('Hi! Where is my order DS-1042?').waitFor();
  await page.getByText('Sam is typing…').waitFor();
  assert.equal(await dialog.locator('.welcome strong').innerText(), 'preview');
  assert.equal(await dialog.locator('img.logo').getAttribute('src'), 'https://example.com/logo.png');
  assert.equal(await headerColor(page), 'rgb(124, 58, 237)');
  await page.evaluate(() => window.sb.update({ primary_color: '#0f766e', title: 'Renamed' }));
  await page.getByRole('dialog', { name: 'Renamed' }).waitFor();
  assert.equal(await headerColor(page), 'rgb(15, 118, 110)');
  await screenshot(page, 'widget-preview', { fullPage: false });
  assert.deepEqual(calls, [], 'preview talks to nobody');
  await page.close();
});

test('language: Spanish strings', async () => {
  const { page, errors } = await pageWith(`Switchboard.init({ language: 'es' });`);
  await page.getByRole('button', { name: 'Abrir chat' }).click();
  await page.getByRole('button', { name: 'Empezar chat' }).waitFor();
  assert.deepEqual(errors, []);
  await page.close();
});

test('the widget is small: every file it loads, measured on the wire and gzipped', async () => {
  const page = await browser.newPage();
  const files = new Map();
  page.on('requestfinished', async (request) => {
    if (!new URL(request.url()).pathname.startsWith('/widget/')) return;
    const res = await request.response();
    const body = await res.body();
    const sizes = await request.sizes();
    files.set(new URL(request.url()).pathname, { raw: body.length, wire: sizes.responseBodySize, gzip: gzipSync(body, { level: 9 }).length, encoding: res.headers()['content-encoding'] });
  });
  await page.goto(`${server.url}/demo/`);
  await page.getByRole('button', { name: 'Open chat' }).click();
  await page.getByRole('button', { name: 'Start chat' }).waitFor();
  await page.waitForLoadState('networkidle');
  const rows = [...files].sort();
  const total = rows.reduce((t, [, f]) => ({ raw: t.raw + f.raw, wire: t.wire + f.wire, gzip: t.gzip + f.gzip }), { raw: 0, wire: 0, gzip: 0 });
  const lines = rows.map(([p, f]) => `${p.padEnd(28)} ${String(f.raw).padStart(7)} ${String(f.wire).padStart(7)} ${String(f.gzip).padStart(7)}  ${f.encoding ?? 'identity'}`);
  const report = [`${'file'.padEnd(28)} ${'bytes'.padStart(7)} ${'wire'.padStart(7)} ${'gzip-9'.padStart(7)}`, ...lines,
    `${'total'.padEnd(28)} ${String(total.raw).padStart(7)} ${String(total.wire).padStart(7)} ${String(total.gzip).padStart(7)}`].join('\n');
  mkdirSync(join(root, 'target'), { recursive: true });
  writeFileSync(join(root, 'target', 'widget-size.txt'), `${report}\n`);
  console.log(report);
  assert.ok(files.has('/widget/switchboard.js') && files.has('/widget/widget.js'), [...files.keys()].join());
  for (const [p, f] of files) assert.ok(f.encoding, `${p} is served compressed`);
  assert.ok(total.gzip < 36 * 1024, `widget under 36 KB gzipped (${total.gzip})`);
  await page.close();
});
