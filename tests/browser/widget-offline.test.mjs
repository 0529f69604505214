// Nobody available: the widget offers "leave a message" (nobody online, or
// outside business hours); the message becomes an offline conversation an
// agent can answer later, in the same widget.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, api, login, screenshot } from './harness.mjs';
import { AgentSocket, createAgent } from './agent.mjs';
import { openWidget, bubble, storedMessages, assigned } from './widget_helpers.mjs';

let server;
let browser;
let admin;
let teamId;
let agent;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  admin = (await login(server)).access_token;
  teamId = (await api(server, 'POST', '/api/v1/teams', { name: 'Support' }, admin)).id;
  agent = await createAgent(server, admin, { teamIds: [teamId], name: 'Late Larry', online: false });
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('with nobody online the visitor leaves a message, and an agent answers it later in the widget', async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${server.url}/demo/`);
  await openWidget(page);
  await page.getByText("We're away right now. Leave a message and we'll get back to you by e-mail.").waitFor();
  assert.equal(await page.getByRole('button', { name: 'Start chat' }).count(), 0, 'no live chat offered');
  await screenshot(page, 'widget-offline', { fullPage: false });

  const sendButton = page.getByRole('button', { name: 'Send message' });
  await sendButton.click();
  assert.equal(await page.getByLabel('E-mail', { exact: true }).getAttribute('aria-invalid'), 'true');
  assert.equal(await page.getByLabel('Your message').getAttribute('aria-invalid'), 'true');
  assert.equal((await api(server, 'GET', '/api/v1/conversations', undefined, admin)).items.length, 0);

  await page.getByLabel('Name', { exact: true }).fill('Omar Offline');
  await page.getByLabel('E-mail', { exact: true }).fill('Omar@Example.com');
  await page.getByLabel('What is it about?').selectOption('Billing');
  await page.getByLabel('Your message').fill('My invoice is wrong.\nPlease call me back.');
  await sendButton.click();
  await page.getByText('Thanks! We got your message and will reply to omar@example.com as soon as we can.').waitFor();
  await bubble(page, 'My invoice is wrong.').waitFor();

  const [conversation] = (await api(server, 'GET', '/api/v1/conversations', undefined, admin)).items;
  assert.equal(conversation.offline, true);
  assert.equal(conversation.state, 'queued');
  assert.equal(conversation.visitor.email, 'omar@example.com');
  assert.equal(conversation.issue_type, 'Billing');
  assert.equal(conversation.visitor.page_url, `${server.url}/demo/`);
  const stored = await storedMessages(server, admin, conversation.id);
  assert.deepEqual(stored.map((m) => m.text), ['My invoice is wrong.\nPlease call me back.']);

  // Later: the agent comes online, gets the conversation and answers.
  const socket = await AgentSocket.open(server, agent.token);
  const mark = socket.mark();
  await api(server, 'PATCH', '/api/v1/me', { status: 'online' }, agent.token);
  const given = await assigned(socket, { from: mark });
  assert.equal(given.id, conversation.id);
  await socket.say(conversation.id, 'Hi Omar, fixing the invoice now.');
  await bubble(page, 'Hi Omar, fixing the invoice now.').waitFor();
  socket.close();
  assert.deepEqual(errors, []);
  await context.close();
});

test('outside business hours the widget offers to leave a message even with agents online', async () => {
  const days = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
  const today = days[new Date().getUTCDay()];
  const schedule = Object.fromEntries(days.filter((d) => d !== today).map((d) => [d, [['00:00', '23:59']]]));
  await api(server, 'PUT', `/api/v1/teams/${teamId}/business-hours`, { timezone: 'UTC', schedule }, admin);
  const onDuty = await createAgent(server, admin, { teamIds: [teamId], name: 'On Duty' });
  const init = await api(server, 'POST', '/api/v1/widget/init', {});
  assert.equal(init.availability.agents_online > 0 && !init.availability.open, true, JSON.stringify(init.availability));

  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${server.url}/demo/`);
  await openWidget(page);
  await page.getByRole('button', { name: 'Send message' }).waitFor();
  assert.equal(await page.getByRole('button', { name: 'Start chat' }).count(), 0);
  await api(server, 'PATCH', '/api/v1/me', { status: 'offline' }, onDuty.token);
  await context.close();
});
