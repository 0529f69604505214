// `switchboard serve --demo` as a newcomer meets it: the printed agent
// login works, the demo shop's widget reaches that agent through the demo's
// routing (a billing question goes to someone with the billing skill), and
// the conversation carries over to the second demo page.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, api, login, screenshot } from './harness.mjs';
import { AgentSocket } from './agent.mjs';
import { openWidget, startChat, send, bubble, assigned, eventually } from './widget_helpers.mjs';

let server;
let browser;

before(async () => {
  server = await startServer({ args: ['--demo'] });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('a newcomer chats between the demo shop and a printed agent login', async () => {
  // The banner follows the "listening" line the harness waits for.
  const banner = await eventually(() => server.output().includes('run --demo where others') && server.output(), 'the demo banner');
  assert.match(banner, new RegExp(`customer: ${server.url}/demo/`));
  const chen = /agent\s+(\S+@\S+)\s+(\S+)\s+Support and Billing/.exec(banner);
  assert.ok(chen, banner);
  const session = await login(server, chen[1], chen[2]);
  assert.equal(session.user.name, 'Chen Li');
  await api(server, 'PATCH', '/api/v1/me', { status: 'online' }, session.access_token);
  const socket = await AgentSocket.open(server, session.access_token);

  const page = await browser.newPage();
  await page.goto(`${server.url}/demo/`);
  await openWidget(page);
  await page.getByRole('dialog', { name: 'Demo Shop help' }).waitFor();
  const mark = socket.mark();
  await startChat(page, { name: 'New Comer', issue: 'Billing', fields: { 'Order number (optional)': 'DS-1' } });
  const conversation = await assigned(socket, { from: mark });
  const teams = (await api(server, 'GET', '/api/v1/teams', undefined, session.access_token)).items;
  assert.equal(conversation.team_id, teams.find((t) => t.name === 'Billing').id, 'the billing rule routed it');
  await socket.resume(conversation.id);
  await socket.say(conversation.id, 'Hi! Chen from billing here.');
  await bubble(page, 'Chen from billing').waitFor();
  await page.getByRole('link', { name: 'Checkout', exact: true }).click();
  await bubble(page, 'Chen from billing').waitFor();
  const from = socket.mark();
  await send(page, 'Found the checkout page');
  await socket.customerMessage(conversation.id, 'Found the checkout page', { from });
  await screenshot(page, 'widget-demo-checkout', { fullPage: false });
  socket.close();
  await page.close();
});
