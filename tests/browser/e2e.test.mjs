// Both real front ends at once: a customer in the widget on /demo/ and an
// agent in the dashboard at /app/, each in its own browser context (own
// storage, own network), against the real server. Nothing is scripted on
// either side: every frame comes from the UIs themselves.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, launchBrowser, login, api, screenshot, eventually, loginInBrowser,
} from './harness.mjs';
import {
  widget, openWidget, startChat, composer, bubble, send, logTexts, storedMessages,
} from './widget_helpers.mjs';

let server;
let browser;
let admin;
let support;
let made = 0;
const PASSWORD = 'agent-password-1';

before(async () => {
  server = await startServer({ env: { SWITCHBOARD__LIMITS__WIDGET_SESSIONS_PER_IP_PER_MINUTE: '1000' } });
  browser = await launchBrowser();
  admin = (await login(server)).access_token;
  support = await api(server, 'POST', '/api/v1/teams', { name: 'Support' }, admin);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** A page in a fresh context that collects script errors. */
async function contextPage(viewport) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  return { context, page, errors };
}

/**
 * A new agent of Support logged in to the dashboard in its own context,
 * gone online from the status menu. Ends offline (`t.after`), so the next
 * test's conversations go to the next test's agent.
 */
async function agentInDashboard(t, name) {
  made += 1;
  const email = `e2e-agent${made}@browser.test`;
  const user = await api(server, 'POST', '/api/v1/users', {
    email, password: PASSWORD, name, role: 'agent', capacity: 5, team_ids: [support.id],
  }, admin);
  const token = (await login(server, email, PASSWORD)).access_token;
  const party = await contextPage({ width: 1440, height: 900 });
  t.after(async () => {
    await party.context.close();
    await api(server, 'PATCH', '/api/v1/me', { status: 'offline' }, token);
  });
  await loginInBrowser(party.page, server, email, PASSWORD);
  await party.page.getByLabel('Your status').selectOption('online');
  await eventually(async () => (await api(server, 'GET', '/api/v1/me', undefined, token)).status === 'online',
    { what: `${name} online on the server` });
  return { ...party, user, token };
}

/** A visitor on the demo shop in its own context, the widget open. */
async function customerOnDemo(t) {
  const party = await contextPage({ width: 1280, height: 800 });
  t.after(() => party.context.close());
  await party.page.goto(`${server.url}/demo/`);
  await openWidget(party.page);
  return party;
}

/**
 * The customer starts a chat from the pre-chat form; the agent gets the
 * toast and opens the conversation from it. Returns its id and view.
 */
async function chatAssigned(agent, customer, form) {
  await startChat(customer.page, form);
  const toast = agent.page.locator('.toast', { hasText: `New conversation: ${form.name}` });
  await toast.waitFor();
  await toast.getByRole('button', { name: 'Open' }).click();
  await agent.page.waitForURL(/#\/inbox\/\d+$/);
  const cid = Number(/#\/inbox\/(\d+)$/.exec(agent.page.url())[1]);
  const view = agent.page.locator(`#conversation-${cid}`);
  await view.getByRole('heading', { name: form.name, level: 2 }).waitFor();
  return { cid, view };
}

/** The committed messages the dashboard shows, in order. */
function dashboardTexts(view) {
  return view.locator('.timeline .msg:not(.msg-pending) .msg-text').allInnerTexts();
}

/** Sends a reply from the dashboard and waits for its ack. */
async function reply(view, text) {
  const box = view.getByLabel('Reply to the customer');
  await box.fill(text);
  await box.press('Enter');
  await view.locator('.msg-agent:not(.msg-pending)', { hasText: text }).waitFor();
}

test('customer and agent, both in real UIs: pre-chat, assignment, typing and messages both ways, close, CSAT', async (t) => {
  const agent = await agentInDashboard(t, 'Bruno Agent');
  const customer = await customerOnDemo(t);
  const { page } = customer;

  // Pre-chat form → automatic assignment: the agent's toast opens it.
  const { cid, view } = await chatAssigned(agent, customer, {
    name: 'Ana Customer', email: 'ana@example.com', issue: 'Order status', message: 'Hi, where is my order?',
  });
  const stored = await api(server, 'GET', `/api/v1/conversations/${cid}`, undefined, admin);
  assert.equal(stored.assignee_id, agent.user.id, 'assigned automatically to the online agent');
  assert.equal(stored.team_id, support.id);
  assert.equal(stored.issue_type, 'Order status');
  await view.locator('.msg-customer', { hasText: 'Hi, where is my order?' }).waitFor();
  await view.locator('sb-visitor-panel').getByText('ana@example.com').waitFor();
  const list = agent.page.getByRole('list', { name: 'Conversations' });
  await list.getByRole('link', { name: /Ana Customer/ }).waitFor();
  await page.getByText('Bruno Agent joined the chat').waitFor();
  await page.getByText("You're chatting with Bruno Agent").waitFor();

  // The customer types: the agent sees it, then the message replaces it.
  const customerTyping = view.getByText('Ana Customer is typing…');
  await composer(page).pressSequentially('It was due on Monday');
  await customerTyping.waitFor();
  await composer(page).press('Enter');
  await view.locator('.msg-customer', { hasText: 'It was due on Monday' }).waitFor();
  await customerTyping.waitFor({ state: 'detached' });

  // The agent types: the customer sees it, then the reply replaces it.
  const agentTyping = page.getByText('Bruno Agent is typing…');
  const box = view.getByLabel('Reply to the customer');
  await box.pressSequentially('It shipped yesterday');
  await agentTyping.waitFor();
  await box.press('Enter');
  await bubble(page, 'It shipped yesterday').waitFor();
  await agentTyping.waitFor({ state: 'hidden' });
  await bubble(page, 'It was due on Monday').locator('[data-status="delivered"], [data-status="read"]').waitFor();
  await view.locator('.msg-agent', { hasText: 'It shipped yesterday' }).getByText(/Delivered|Seen/).waitFor();

  await send(page, 'Great, thanks!');
  await view.locator('.msg-customer', { hasText: 'Great, thanks!' }).waitFor();
  const expected = ['Hi, where is my order?', 'It was due on Monday', 'It shipped yesterday', 'Great, thanks!'];
  assert.deepEqual(await logTexts(page), expected);
  assert.deepEqual(await dashboardTexts(view), expected);
  await screenshot(page, 'e2e-customer', { fullPage: false });
  await agent.page.locator('.toast').evaluateAll((els) => els.forEach((el) => el.remove()));
  await screenshot(agent.page, 'e2e-agent', { fullPage: false });

  // The agent closes with a reason; the customer is asked for a rating.
  await view.getByRole('button', { name: 'Close', exact: true }).click();
  const dialog = agent.page.getByRole('dialog', { name: 'Close conversation' });
  await dialog.getByLabel('Reason').selectOption('resolved');
  await dialog.getByRole('button', { name: 'Close conversation' }).click();
  await view.getByRole('button', { name: 'Reopen' }).waitFor();
  await page.getByText('This chat has ended.').first().waitFor();
  assert.equal(await composer(page).count(), 0, 'no composer once closed');
  await page.getByRole('radiogroup', { name: 'How was your chat?' }).waitFor();
  await page.getByRole('radio', { name: '4 of 5' }).check();
  await page.getByLabel('Tell us more (optional)').fill('Fast and friendly');
  await page.getByRole('button', { name: 'Send rating' }).click();
  await page.getByText('Thanks for your feedback!').waitFor();

  // The rating is stored, and reaches the agent's visitor panel live.
  const rated = await api(server, 'GET', `/api/v1/conversations/${cid}`, undefined, admin);
  assert.equal(rated.state, 'closed');
  assert.equal(rated.closed_reason, 'resolved');
  assert.deepEqual([rated.csat?.score, rated.csat?.comment], [4, 'Fast and friendly']);
  const panel = view.locator('sb-visitor-panel');
  await panel.getByLabel('4 out of 5').waitFor();
  await panel.getByText('Fast and friendly').waitFor();
  assert.deepEqual((await storedMessages(server, admin, cid)).map((m) => m.text), expected);
  assert.deepEqual(agent.errors, []);
  assert.deepEqual(customer.errors, []);
});

test('the customer loses the network mid-chat: both UIs end with the same messages, in order, none doubled', async (t) => {
  const agent = await agentInDashboard(t, 'Carla Agent');
  const customer = await customerOnDemo(t);
  const { page } = customer;
  const { cid, view } = await chatAssigned(agent, customer, { name: 'Olga Offline', issue: 'Billing', message: 'My bill looks wrong' });
  await view.locator('.msg-customer', { hasText: 'My bill looks wrong' }).waitFor();
  await reply(view, 'Let me look');
  await bubble(page, 'Let me look').waitFor();

  await customer.context.setOffline(true);
  await page.getByText("You're offline. Messages will be sent when you're back.").waitFor();
  await reply(view, 'I found the charge');
  await reply(view, 'It is refunded now');
  await send(page, 'typed in the tunnel');
  await bubble(page, 'typed in the tunnel').getByRole('img', { name: 'Will be sent when you are back online' }).waitFor();
  assert.equal(await bubble(page, 'I found the charge').count(), 0, 'nothing reaches an offline customer');
  assert.equal(await view.locator('.msg', { hasText: 'typed in the tunnel' }).count(), 0);

  await customer.context.setOffline(false);
  await bubble(page, 'I found the charge').waitFor();
  await bubble(page, 'It is refunded now').waitFor();
  await view.locator('.msg-customer', { hasText: 'typed in the tunnel' }).waitFor();
  await bubble(page, 'typed in the tunnel').locator('[data-status="sent"], [data-status="delivered"], [data-status="read"]').waitFor();
  await page.getByText("You're offline").waitFor({ state: 'hidden' });

  // The customer's message waited for the resume, so it comes last.
  const expected = ['My bill looks wrong', 'Let me look', 'I found the charge', 'It is refunded now', 'typed in the tunnel'];
  const history = await api(server, 'GET', `/api/v1/conversations/${cid}/messages`, undefined, admin);
  assert.deepEqual(history.items.map((m) => m.text), expected, 'stored once each, in order');
  assert.deepEqual(history.items.map((m) => m.seq), [1, 2, 3, 4, 5]);
  assert.deepEqual(await logTexts(page), expected, 'the widget shows each once, in seq order');
  assert.deepEqual(await dashboardTexts(view), expected, 'so does the dashboard');
  const seqs = await view.locator('.timeline .msg[data-seq]').evaluateAll((els) => els.map((e) => Number(e.dataset.seq)));
  assert.deepEqual(seqs, [1, 2, 3, 4, 5]);
  assert.deepEqual(agent.errors, []);
  assert.deepEqual(customer.errors, []);
});

test('an internal note written in the dashboard never reaches the widget, not even after a reload', async (t) => {
  const agent = await agentInDashboard(t, 'Dina Agent');
  const customer = await customerOnDemo(t);
  const { page } = customer;
  const { cid, view } = await chatAssigned(agent, customer, { name: 'Nora Note', issue: 'Something else', message: 'Can I change my address?' });
  await view.locator('.msg-customer', { hasText: 'Can I change my address?' }).waitFor();

  const secret = 'Customer flagged for fraud review';
  await view.getByRole('radio', { name: 'Private note' }).click();
  const note = view.getByLabel('Internal note');
  await note.fill(secret);
  await note.press('Enter');
  await view.locator('.note', { hasText: secret }).getByText('Internal note').waitFor();
  await view.getByRole('radio', { name: 'Reply' }).click();
  await reply(view, 'Yes, send me the new one');

  // The note went through the conversation before the reply did, so had it
  // been sent to the customer it would have arrived first.
  await bubble(page, 'Yes, send me the new one').waitFor();
  const shown = () => widget(page).evaluate((el) => el.shadowRoot.textContent);
  assert.ok(!(await shown()).includes(secret), 'the widget never shows the note');
  assert.equal(await page.getByText(secret).count(), 0);
  assert.deepEqual(await logTexts(page), ['Can I change my address?', 'Yes, send me the new one']);

  // A reload reads the whole history again from seq 0.
  await page.reload();
  await bubble(page, 'Yes, send me the new one').waitFor();
  await bubble(page, 'Can I change my address?').waitFor();
  assert.ok(!(await shown()).includes(secret), 'nor after a reload');
  assert.deepEqual(await logTexts(page), ['Can I change my address?', 'Yes, send me the new one']);

  const notes = await api(server, 'GET', `/api/v1/conversations/${cid}/notes`, undefined, admin);
  assert.deepEqual(notes.items.map((n) => n.text), [secret], 'the note is stored');
  assert.deepEqual((await storedMessages(server, admin, cid)).map((m) => m.text),
    ['Can I change my address?', 'Yes, send me the new one'], 'and is not a message');
  assert.deepEqual(agent.errors, []);
  assert.deepEqual(customer.errors, []);
});
