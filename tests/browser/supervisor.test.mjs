// The supervisor view: queues and agents live, assignment by menu and by
// drag and drop, SLA states as they happen.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, launchBrowser, login, api, screenshot, eventually, loginInBrowser, scriptedCustomer,
} from './harness.mjs';

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

test('a supervisor watches queues and agents live and assigns by menu and by drag', async () => {
  const admin = (await login(server)).access_token;
  // Agents pick by hand here, so conversations wait; a short first-reply
  // target makes the SLA states show within the test.
  const team = await api(server, 'POST', '/api/v1/teams', { name: 'Support', auto_assign: false, sla_first_response_s: 4 }, admin);
  const other = await api(server, 'POST', '/api/v1/teams', { name: 'Sales', auto_assign: false }, admin);
  const mk = (name, email, role, teams) => api(server, 'POST', '/api/v1/users', {
    email, name, role, password: 'staff-password-1', team_ids: teams, capacity: 3,
  }, admin);
  await mk('Sue Supervisor', 'sue@browser.test', 'supervisor', [team.id]);
  const bruno = await mk('Bruno Agent', 'bruno@browser.test', 'agent', [team.id]);
  const carla = await mk('Carla Agent', 'carla@browser.test', 'agent', [team.id]);
  await mk('Olga Outsider', 'olga@browser.test', 'agent', [other.id]);
  const brunoToken = (await login(server, 'bruno@browser.test', 'staff-password-1')).access_token;
  const carlaToken = (await login(server, 'carla@browser.test', 'staff-password-1')).access_token;
  await api(server, 'PATCH', '/api/v1/me', { status: 'online' }, brunoToken);
  await api(server, 'PATCH', '/api/v1/me', { status: 'online' }, carlaToken);

  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await loginInBrowser(page, server, 'sue@browser.test', 'staff-password-1');
  await page.getByRole('link', { name: 'Supervisor' }).click();
  const queue = page.getByRole('article', { name: 'Queue of Support' });
  await queue.getByText('Nobody waiting.').waitFor();
  assert.equal(await page.getByRole('article', { name: 'Queue of Sales' }).count(), 0, 'only the supervisor’s teams');
  const agents = page.getByRole('list', { name: 'Agents' });
  const brunoCard = agents.locator(`[data-agent="${bruno.id}"]`);
  const carlaCard = agents.locator(`[data-agent="${carla.id}"]`);
  await brunoCard.getByText('0/3').waitFor();
  await carlaCard.getByText('online').waitFor();
  assert.equal(await agents.getByText('Olga Outsider').count(), 0);

  // Customers arrive; the queue shows them live with their waiting time.
  const customerPage = await browser.newPage();
  const dora = await scriptedCustomer(customerPage, server, { name: 'Dora', issue_type: 'Support' });
  const doraRow = queue.locator(`[data-conversation="${dora.conversationId}"]`);
  await doraRow.getByText('Dora').waitFor();
  await queue.getByLabel('1 waiting').waitFor();
  await doraRow.getByLabel('waiting time').getByText(/^0:0[1-9]$/).waitFor();

  // Assign from the menu.
  await doraRow.getByRole('button', { name: 'Assign Dora' }).click();
  const dialog = page.getByRole('dialog', { name: 'Assign Dora' });
  await dialog.getByLabel('Agent').selectOption(String(bruno.id));
  await dialog.getByRole('button', { name: 'Assign' }).click();
  await doraRow.waitFor({ state: 'detached' });
  await brunoCard.getByText('1/3').waitFor();
  await brunoCard.getByRole('link', { name: 'Dora' }).waitFor();
  assert.equal((await api(server, 'GET', `/api/v1/conversations/${dora.conversationId}`, undefined, admin)).assignee_id, bruno.id);

  // Drag a waiting conversation onto an agent.
  const eve = await scriptedCustomer(customerPage, server, { name: 'Eve', issue_type: 'Support' });
  const eveRow = queue.locator(`[data-conversation="${eve.conversationId}"]`);
  await eveRow.getByText('Eve').waitFor();
  await eveRow.dragTo(carlaCard);
  await eveRow.waitFor({ state: 'detached' });
  await carlaCard.getByText('1/3').waitFor();
  assert.equal((await api(server, 'GET', `/api/v1/conversations/${eve.conversationId}`, undefined, admin)).assignee_id, carla.id);

  // Reassign by dragging what Bruno holds onto Carla.
  await brunoCard.locator(`[data-conversation="${dora.conversationId}"]`).dragTo(carlaCard);
  await carlaCard.getByText('2/3').waitFor();
  await brunoCard.getByText('0/3').waitFor();
  assert.equal((await api(server, 'GET', `/api/v1/conversations/${dora.conversationId}`, undefined, admin)).assignee_id, carla.id);

  // Presence changes show at once.
  await api(server, 'PATCH', '/api/v1/me', { status: 'away' }, brunoToken);
  await brunoCard.getByText('away', { exact: true }).waitFor();

  // A conversation left waiting goes amber, then red, as its SLA runs out.
  const finn = await scriptedCustomer(customerPage, server, { name: 'Finn', issue_type: 'Support' });
  const finnRow = queue.locator(`[data-conversation="${finn.conversationId}"]`);
  await finnRow.getByText('Finn').waitFor();
  await finnRow.getByText('SLA at risk').waitFor({ timeout: 8000 });
  await finnRow.getByText('SLA breached').waitFor({ timeout: 8000 });
  await page.getByRole('list', { name: 'SLA alerts' }).getByText(`Finn (#${finn.conversationId}) breached: first response`).waitFor();
  await page.locator('.toast', { hasText: 'SLA breached: Finn' }).waitFor();
  const stats = page.getByRole('group', { name: 'Summary' });
  await stats.locator('.stat', { hasText: 'SLA breached' }).getByText('1', { exact: true }).waitFor();
  // Toasts come and go on their own; the screenshot shows the page under them.
  await page.locator('.toast').evaluateAll((els) => els.forEach((el) => el.remove()));
  await screenshot(page, 'supervisor');
  assert.deepEqual(errors, []);
  await page.close();
  await customerPage.close();
});

test('an agent does not get the supervisor view', async () => {
  const page = await browser.newPage();
  await loginInBrowser(page, server, 'olga@browser.test', 'staff-password-1');
  assert.equal(await page.getByRole('link', { name: 'Supervisor' }).count(), 0);
  await page.goto(`${server.url}/app/#/supervisor`);
  // The route falls back to the inbox.
  await page.getByRole('tab', { name: /Queue/ }).waitFor();
  assert.equal(await page.locator('sb-supervisor').count(), 0);
  await eventually(async () => (await page.title()).startsWith('Inbox'), { what: 'inbox title' });
  await page.close();
});

test('SLA alerts are toasts for supervisors only, though every queue watcher receives them', async () => {
  const admin = (await login(server)).access_token;
  const team = await api(server, 'POST', '/api/v1/teams', { name: 'Returns', auto_assign: false, sla_first_response_s: 2 }, admin);
  const mk = (name, email, role) => api(server, 'POST', '/api/v1/users', {
    email, name, role, password: 'staff-password-1', team_ids: [team.id], capacity: 3,
  }, admin);
  await mk('Pia Plain', 'pia@browser.test', 'agent');
  await mk('Sam Senior', 'sam@browser.test', 'supervisor');

  // The agent's page keeps every frame its sockets receive, so the test
  // knows the alert reached it. Listeners run in the order they were added,
  // in one task: by the time the test sees the frame, the app has handled it.
  const agentPage = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  const errors = [];
  agentPage.on('pageerror', (e) => errors.push(e.message));
  await agentPage.addInitScript(() => {
    const Native = window.WebSocket;
    window.received = [];
    window.WebSocket = class extends Native {
      constructor(...args) {
        super(...args);
        this.addEventListener('message', (ev) => window.received.push(JSON.parse(ev.data)));
      }
    };
  });
  await loginInBrowser(agentPage, server, 'pia@browser.test', 'staff-password-1');
  const supervisorPage = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  await loginInBrowser(supervisorPage, server, 'sam@browser.test', 'staff-password-1');
  // Both watch the queue (the agent's inbox lists it; the snapshot says so).
  await agentPage.waitForFunction((t) => window.received.some((f) => f.type === 'queue.snapshot' && f.team_id === t), team.id);

  const customerPage = await browser.newPage();
  const quinn = await scriptedCustomer(customerPage, server, { name: 'Quinn', issue_type: 'Returns' });
  const cid = quinn.conversationId;
  await supervisorPage.locator('.toast', { hasText: 'SLA breached: Quinn' }).waitFor();
  await agentPage.waitForFunction((c) => window.received.some((f) => f.type === 'notification'
    && f.kind === 'sla.breach' && f.conversation_id === c), cid);
  const kinds = await agentPage.evaluate((c) => window.received
    .filter((f) => f.type === 'notification' && f.conversation_id === c).map((f) => f.kind), cid);
  assert.deepEqual(kinds, ['sla.warning', 'sla.breach'], 'the agent received both alerts');
  assert.equal(await agentPage.locator('.toast', { hasText: 'SLA' }).count(), 0, 'and was shown neither');
  assert.deepEqual(errors, []);
  await agentPage.close();
  await supervisorPage.close();
  await customerPage.close();
});
