// The admin console: every section changes the server through the UI, and
// a refused change is shown and changes nothing.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, launchBrowser, login, api, screenshot, loginInBrowser, ADMIN_EMAIL, ADMIN_PASSWORD,
} from './harness.mjs';

let server;
let browser;
let page;
let admin;
const errors = [];

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  admin = (await login(server)).access_token;
  page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  page.on('pageerror', (e) => errors.push(e.message));
  await loginInBrowser(page, server, ADMIN_EMAIL, ADMIN_PASSWORD);
  await page.getByRole('link', { name: 'Admin' }).click();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const section = (name) => page.getByRole('navigation', { name: 'Admin sections' }).getByRole('link', { name }).click();
const get = (path) => api(server, 'GET', path, undefined, admin);

test('an admin creates a team with SLA targets', async () => {
  await section('Teams');
  await page.getByRole('button', { name: 'New team' }).click();
  const dialog = page.getByRole('dialog', { name: 'New team' });
  await dialog.getByLabel('Name').fill('Billing');
  await dialog.getByLabel(/Assign automatically/).uncheck();
  await dialog.getByLabel('First reply due within (seconds)').fill('300');
  await dialog.getByRole('button', { name: 'Create team' }).click();
  await dialog.waitFor({ state: 'detached' });
  await page.getByRole('table', { name: 'Teams' }).getByText('Billing').waitFor();
  const teams = (await get('/api/v1/teams')).items;
  const billing = teams.find((t) => t.name === 'Billing');
  assert.equal(billing.auto_assign, false);
  assert.equal(billing.sla_first_response_s, 300);
});

test('an admin creates a user with teams and skills, edits, resets and deactivates it', async () => {
  await section('Users');
  await page.getByRole('button', { name: 'New user' }).click();
  let dialog = page.getByRole('dialog', { name: 'New user' });
  await dialog.getByLabel('Name').fill('Nia Agent');
  await dialog.getByLabel('E-mail').fill('nia@browser.test');
  await dialog.getByLabel('Password').fill('short');
  await dialog.getByLabel('Capacity').fill('4');
  await dialog.getByLabel('Billing').check();
  await dialog.getByRole('button', { name: '+ Add skill' }).click();
  await dialog.getByLabel('Skill', { exact: true }).fill('billing');
  await dialog.getByLabel('Level').selectOption('4');
  // Refused: the password is too short. The dialog stays, says why, and
  // nothing is created.
  await dialog.getByRole('button', { name: 'Create user' }).click();
  await dialog.getByText(/password must be at least 8 characters/).waitFor();
  assert.equal((await get('/api/v1/users')).items.some((u) => u.email === 'nia@browser.test'), false);
  await dialog.getByLabel('Password').fill('nia-password-1');
  await dialog.getByRole('button', { name: 'Create user' }).click();
  await dialog.waitFor({ state: 'detached' });
  const row = page.getByRole('table', { name: 'Users' }).locator('tr[data-key="nia@browser.test"]');
  await row.getByText('Nia Agent').waitFor();
  await row.getByText('billing 4').waitFor();
  let nia = (await get('/api/v1/users')).items.find((u) => u.email === 'nia@browser.test');
  assert.equal(nia.role, 'agent');
  assert.equal(nia.capacity, 4);
  assert.deepEqual(nia.teams.map((t) => t.name), ['Billing']);
  assert.deepEqual(nia.skills, { billing: 4 });

  await row.getByRole('button', { name: 'Edit Nia Agent' }).click();
  dialog = page.getByRole('dialog', { name: 'Edit Nia Agent' });
  await dialog.getByLabel('Role').selectOption('supervisor');
  await dialog.getByLabel('Capacity').fill('6');
  await dialog.getByRole('button', { name: 'Save' }).click();
  await dialog.waitFor({ state: 'detached' });
  await row.getByText('supervisor').waitFor();
  nia = (await get(`/api/v1/users/${nia.id}`));
  assert.equal(nia.role, 'supervisor');
  assert.equal(nia.capacity, 6);

  await row.getByRole('button', { name: 'Reset password of Nia Agent' }).click();
  dialog = page.getByRole('dialog', { name: 'New password for Nia Agent' });
  await dialog.getByLabel('New password').fill('nia-password-2');
  await dialog.getByRole('button', { name: 'Set password' }).click();
  await dialog.waitFor({ state: 'detached' });
  await login(server, 'nia@browser.test', 'nia-password-2');
  await assert.rejects(login(server, 'nia@browser.test', 'nia-password-1'), /401/);
  await page.locator('.toast').evaluateAll((els) => els.forEach((el) => el.remove()));
  await screenshot(page, 'admin');

  await row.getByRole('button', { name: 'Deactivate Nia Agent' }).click();
  await page.getByRole('dialog', { name: 'Deactivate Nia Agent?' }).getByRole('button', { name: 'Deactivate' }).click();
  await row.getByText('deactivated').waitFor();
  assert.equal((await get(`/api/v1/users/${nia.id}`)).active, false);
});

test('an admin writes a routing rule', async () => {
  await section('Routing rules');
  await page.getByRole('button', { name: 'New rule' }).click();
  const dialog = page.getByRole('dialog', { name: 'New routing rule' });
  await dialog.getByLabel('Name').fill('Spanish billing');
  await dialog.getByLabel('Issue type').fill('billing');
  await dialog.getByLabel('Language').fill('es');
  await dialog.getByLabel('Team').selectOption({ label: 'Billing' });
  await dialog.getByLabel(/^Priority/).fill('5');
  await dialog.getByRole('button', { name: '+ Add skill' }).click();
  await dialog.getByLabel('Skill', { exact: true }).fill('billing');
  await dialog.getByLabel('Level').selectOption('2');
  await dialog.getByRole('button', { name: 'Create rule' }).click();
  await dialog.waitFor({ state: 'detached' });
  await page.getByRole('table', { name: 'Routing rules' }).getByText('issue is billing and language is es').waitFor();
  const [rule] = (await get('/api/v1/routing-rules')).items;
  const billing = (await get('/api/v1/teams')).items.find((t) => t.name === 'Billing');
  assert.deepEqual(rule.conditions, { issue_type: 'billing', language: 'es' });
  assert.equal(rule.team_id, billing.id);
  assert.equal(rule.priority, 5);
  assert.deepEqual(rule.required_skills, { billing: 2 });
});

test('an admin sets business hours with a holiday', async () => {
  await section('Business hours');
  const billing = (await get('/api/v1/teams')).items.find((t) => t.name === 'Billing');
  await page.getByLabel('Team', { exact: true }).selectOption(String(billing.id));
  const form = page.locator(`form[data-team="${billing.id}"]`);
  await form.waitFor();
  await page.getByText('no hours: always open').waitFor();
  await page.getByLabel('Time zone').fill('Europe/Lisbon');
  await page.getByRole('button', { name: 'Add hours on Saturday' }).click();
  await page.getByLabel('Saturday from').fill('10:00');
  await page.getByLabel('Saturday until').fill('14:00');
  await page.getByLabel(/Holidays/).fill('2026-12-25');
  await form.getByRole('button', { name: 'Save hours' }).click();
  await page.getByText(/^(open now|closed)/).waitFor();
  const hours = await get(`/api/v1/teams/${billing.id}/business-hours`);
  assert.equal(hours.timezone, 'Europe/Lisbon');
  assert.deepEqual(hours.schedule.mon, [['09:00', '17:00']]);
  assert.deepEqual(hours.schedule.sat, [['10:00', '14:00']]);
  assert.equal(hours.schedule.sun, undefined);
  assert.deepEqual(hours.holidays, ['2026-12-25']);
});

test('widget settings preview live and save', async () => {
  await section('Widget');
  const preview = page.frameLocator('iframe[title="Widget preview"]');
  await preview.getByText('Chat with us').waitFor();
  await page.getByLabel('Title').fill('Talk to Billing');
  await preview.getByText('Talk to Billing').waitFor();
  await page.getByLabel('Welcome message').fill('Hello! Ask us about invoices.');
  await preview.getByText('Hello! Ask us about invoices.').waitFor();
  await page.getByRole('button', { name: '+ Add field' }).click();
  await page.getByLabel('Field label').fill('Order number');
  await preview.getByText('Order number').waitFor();
  // Not saved yet: the server still has the defaults.
  assert.equal((await get('/api/v1/widget/settings')).title, 'Chat with us');
  await page.getByLabel('Position').selectOption('left');
  await page.getByRole('button', { name: 'Save settings' }).click();
  await page.locator('.toast', { hasText: 'Widget settings saved' }).waitFor();
  const saved = await get('/api/v1/widget/settings');
  assert.equal(saved.title, 'Talk to Billing');
  assert.equal(saved.position, 'left');
  assert.deepEqual(saved.pre_chat_fields, [{ name: 'order_number', label: 'Order number', type: 'text', required: false }]);
  await page.locator('.toast').evaluateAll((els) => els.forEach((el) => el.remove()));
  await screenshot(page, 'admin-widget');
});

test('an admin keeps tags and global macros', async () => {
  await section('Tags');
  await page.getByRole('button', { name: 'New tag' }).click();
  let dialog = page.getByRole('dialog', { name: 'New tag' });
  await dialog.getByLabel('Name').fill('Urgent');
  await dialog.getByRole('button', { name: 'Create tag' }).click();
  await page.getByRole('table', { name: 'Tags' }).getByText('urgent', { exact: true }).waitFor();
  assert.deepEqual((await get('/api/v1/tags')).items.map((t) => t.name), ['urgent']);

  await section('Macros');
  await page.getByRole('button', { name: 'New macro' }).click();
  dialog = page.getByRole('dialog', { name: 'New macro' });
  await dialog.getByLabel('Title').fill('Greeting');
  await dialog.getByLabel('Text').fill('Hi {{first_name}}! How can I help?');
  await dialog.getByRole('button', { name: 'Create macro' }).click();
  await page.getByRole('table', { name: 'Macros' }).getByText('Greeting').waitFor();
  const macros = (await get('/api/v1/macros?scope=global')).items;
  assert.deepEqual(macros.map((m) => [m.title, m.scope]), [['Greeting', 'global']]);
  assert.deepEqual(errors, []);
});
