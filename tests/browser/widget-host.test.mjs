// The widget inside hostile host pages, embedded from another origin (the
// way real sites embed it): page CSS that unsets and hides everything,
// giant fonts, z-index wars and a transformed body must neither break the
// widget nor be broken by it. Also the mobile layout at 375 px.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { startServer, launchBrowser, screenshot } from './harness.mjs';
import { desk, openWidget, startChat, send, bubble, assigned } from './widget_helpers.mjs';

let server;
let browser;
let team;
let site;
let siteUrl;

/** Pages of a second site (another origin) that embed the widget. */
const pages = {
  '/unset.html': (widgetBase) => `<!doctype html><html><head><meta charset="utf-8"><title>Hostile: unset</title>
<style>
  * { all: unset; }
  body * { display: none !important; }
  html { font-size: 90px !important; }
  * { font-size: 72px !important; line-height: 4 !important; color: lime !important;
      font-family: "Comic Sans MS", cursive !important; letter-spacing: 12px !important; }
  switchboard-widget { display: none !important; opacity: 0 !important; visibility: hidden !important;
      transform: scale(0) !important; width: 0 !important; height: 0 !important; position: static !important; }
  :root { --sb-primary: red; }
</style></head><body><p id="probe">A page that hides everything</p>
<script src="${widgetBase}/widget/switchboard.js"></script>
<script>Switchboard.init({ title: 'Hostile help' });</script>
</body></html>`,
  '/war.html': (widgetBase, withWidget = true) => `<!doctype html><html><head><meta charset="utf-8"><title>Hostile: z-index war</title>
<style>
  html { font-size: 40px; }
  body { margin: 0; transform: translateZ(0); filter: saturate(1.01); font: 3rem/2 serif; }
  div, section, button { z-index: 2147483647 !important; position: relative; }
  .tall { height: 4000px; }
  .cover { position: fixed !important; inset: 0; z-index: 2147483647 !important; background: rgba(200, 0, 0, .12); }
  button { font-size: 50px !important; border-radius: 0 !important; }
</style></head><body><p id="probe">Page text</p><div class="tall"></div>
${withWidget ? `<script src="${widgetBase}/widget/switchboard.js"></script>
<script>Switchboard.init({ title: 'War help' });</script>` : ''}
<div class="cover"></div>
</body></html>`,
};

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  team = await desk(server);
  site = createServer((req, res) => {
    const [path, query] = req.url.split('?');
    const page = pages[path];
    if (!page) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(page(server.url, query !== 'bare'));
  });
  await new Promise((ok) => site.listen(0, '127.0.0.1', ok));
  // "localhost" and "127.0.0.1" are different origins: the widget really
  // runs cross-origin, with CORS on its scripts and REST calls.
  siteUrl = `http://localhost:${site.address().port}`;
});

after(async () => {
  team?.socket.close();
  await browser?.close();
  await server?.stop();
  await new Promise((ok) => (site ? site.close(ok) : ok()));
});

/** Where the launcher sits, and what the page hits at its centre. */
async function launcherPlace(page) {
  const launcher = page.getByRole('button', { name: 'Open chat' });
  await launcher.waitFor();
  const box = await launcher.boundingBox();
  const hit = await page.evaluate(([x, y]) => document.elementFromPoint(x, y)?.tagName, [box.x + box.width / 2, box.y + box.height / 2]);
  return { box, hit, viewport: page.viewportSize() };
}

test('page CSS that unsets and hides everything, with giant fonts, cannot hide or reshape the widget', async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${siteUrl}/unset.html`);
  const { box, hit, viewport } = await launcherPlace(page);
  assert.deepEqual([Math.round(box.width), Math.round(box.height)], [56, 56]);
  assert.ok(Math.abs(viewport.width - 20 - (box.x + box.width)) <= 1, `right edge at 20 px: ${JSON.stringify(box)}`);
  assert.ok(Math.abs(viewport.height - 20 - (box.y + box.height)) <= 1, `bottom edge at 20 px: ${JSON.stringify(box)}`);
  assert.equal(hit, 'SWITCHBOARD-WIDGET', 'nothing covers the launcher');
  assert.equal(await page.locator('#probe').isVisible(), false, 'the page really hides its own content');

  await openWidget(page);
  const dialog = page.getByRole('dialog', { name: 'Hostile help' });
  const panel = await dialog.boundingBox();
  assert.equal(Math.round(panel.width), 370);
  const title = page.getByRole('heading', { name: 'Hostile help' });
  const look = await title.evaluate((el) => {
    const s = getComputedStyle(el);
    return { size: s.fontSize, family: s.fontFamily, spacing: s.letterSpacing };
  });
  assert.equal(look.size, '16px');
  assert.doesNotMatch(look.family, /Comic/);
  assert.equal(look.spacing, 'normal');
  const field = page.getByLabel('Name', { exact: true });
  assert.equal(await field.evaluate((el) => getComputedStyle(el).fontSize), '14px');
  const header = await dialog.locator('header').evaluate((el) => getComputedStyle(el).backgroundColor);
  assert.equal(header, 'rgb(37, 99, 235)', "the page's --sb-primary does not leak in");
  await screenshot(page, 'widget-hostile-unset', { fullPage: false });
  assert.deepEqual(errors, []);
  await page.close();
});

test('a z-index war, a transformed body and a full-page overlay cannot bury it; cross-origin chat works', async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));

  // The same page without the widget: the widget must not change the page.
  await page.goto(`${siteUrl}/war.html?bare`);
  const pageLook = () => page.evaluate(() => {
    const s = getComputedStyle(document.getElementById('probe'));
    return { font: s.font, color: s.color, sheets: document.styleSheets.length, scroll: document.documentElement.scrollHeight };
  });
  const bare = await pageLook();

  await page.goto(`${siteUrl}/war.html`);
  await page.mouse.wheel(0, 2000);
  const { box, hit, viewport } = await launcherPlace(page);
  assert.ok(Math.abs(viewport.height - 20 - (box.y + box.height)) <= 1, `fixed to the viewport despite the transformed body: ${JSON.stringify(box)}`);
  assert.equal(hit, 'SWITCHBOARD-WIDGET', 'above the later z-index 2147483647 overlay');
  assert.deepEqual(await pageLook(), bare, 'the page looks exactly as without the widget');

  await openWidget(page);
  const mark = team.socket.mark();
  await startChat(page, { name: 'Cross Origin' });
  const cid = (await assigned(team.socket, { from: mark })).id;
  await team.socket.resume(cid);
  const from = team.socket.mark();
  await send(page, 'hello from another origin');
  await team.socket.customerMessage(cid, 'hello from another origin', { from });
  await bubble(page, 'hello from another origin').locator('[data-status="delivered"], [data-status="read"]').waitFor();
  await page.getByText(`You're chatting with ${team.agent.name}`).waitFor();
  const sendButton = page.getByRole('button', { name: 'Send' });
  assert.equal(await sendButton.evaluate((el) => getComputedStyle(el).borderRadius), '10px', "the page's button rules stay out");
  await screenshot(page, 'widget-hostile-war', { fullPage: false });
  assert.deepEqual(errors, []);
  await page.close();
});

test('under 576 px the open widget takes the whole screen (375 px phone)', async () => {
  const context = await browser.newContext({ viewport: { width: 375, height: 740 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
  const page = await context.newPage();
  await page.goto(`${server.url}/demo/`);
  const launcher = page.getByRole('button', { name: 'Open chat' });
  await launcher.tap();
  const dialog = page.getByRole('dialog');
  await page.getByLabel('Name', { exact: true }).waitFor();
  const box = await dialog.boundingBox();
  assert.deepEqual([box.x, box.y, box.width, box.height].map(Math.round), [0, 0, 375, 740]);
  assert.equal(await page.getByRole('button', { name: 'Close chat' }).isVisible(), true);
  await screenshot(page, 'widget-mobile', { fullPage: false });
  await page.getByRole('button', { name: 'Close chat' }).tap();
  await launcher.waitFor();
  const small = await launcher.boundingBox();
  assert.deepEqual([Math.round(small.width), Math.round(small.height)], [56, 56]);
  await context.close();
});
