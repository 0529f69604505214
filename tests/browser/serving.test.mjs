// The server serves its pages to a real browser.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser } from './harness.mjs';

let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('the staff app and the demo page load in chromium without script errors', async () => {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  for (const path of ['/app/', '/demo/']) {
    const res = await page.goto(server.url + path);
    assert.equal(res.status(), 200, path);
    assert.match(await page.title(), /Switchboard/);
  }
  assert.deepEqual(errors, []);
  await page.close();
});
