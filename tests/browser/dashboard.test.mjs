// The agent dashboard in a real browser, against the real server, with a
// scripted customer on its own socket.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, launchBrowser, login, api, screenshot, eventually, loginInBrowser, scriptedCustomer,
} from './harness.mjs';

let server;
let browser;
let admin;
let support;
let billing;
const PASSWORD = 'agent-password-1';

async function createUser(name, email, role, teamIds, extra = {}) {
  return api(server, 'POST', '/api/v1/users', {
    email, password: PASSWORD, name, role, team_ids: teamIds, ...extra,
  }, admin.access_token);
}

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  admin = await login(server);
  const t = admin.access_token;
  support = await api(server, 'POST', '/api/v1/teams', { name: 'Support' }, t);
  billing = await api(server, 'POST', '/api/v1/teams', { name: 'Billing', auto_assign: false }, t);
  for (const name of ['vip', 'billing']) await api(server, 'POST', '/api/v1/tags', { name }, t);
  await api(server, 'POST', '/api/v1/macros', {
    title: 'Refund policy', content: 'Hi {{first_name}}, refunds take 5 days.', scope: 'global',
  }, t);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** A new browser page for staff that fails the test on any script error. */
async function staffPage() {
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(e.message));
  return page;
}

test('an agent takes a conversation from toast to close, live with the customer', async () => {
  const bruno = await createUser('Bruno Agent', 'bruno@browser.test', 'agent', [support.id, billing.id]);
  const brunoToken = (await login(server, 'bruno@browser.test', PASSWORD)).access_token;
  const page = await staffPage();
  await loginInBrowser(page, server, 'bruno@browser.test', PASSWORD);

  await page.getByLabel('Your status').selectOption('online');
  await eventually(async () => (await api(server, 'GET', '/api/v1/me', undefined, brunoToken)).status === 'online',
    { what: 'Bruno online on the server' });

  // The customer starts a chat; automatic assignment gives it to Bruno.
  const customerPage = await browser.newPage();
  const customer = await scriptedCustomer(customerPage, server, {
    name: 'Ana Lima', email: 'ana@example.com', issue_type: 'Support', custom_fields: { order: 'A-1001' },
  });
  const cid = customer.conversationId;
  const toast = page.locator('.toast', { hasText: 'New conversation: Ana Lima' });
  await toast.waitFor();
  await toast.getByRole('button', { name: 'Open' }).click();
  const view = page.locator(`#conversation-${cid}`);
  await view.getByRole('heading', { name: 'Ana Lima', level: 2 }).waitFor();
  assert.equal((await api(server, 'GET', `/api/v1/conversations/${cid}`, undefined, brunoToken)).assignee_id, bruno.id);

  // The visitor panel shows the pre-chat facts.
  const panel = view.locator('sb-visitor-panel');
  await panel.getByText('ana@example.com').waitFor();
  await panel.getByText('A-1001').waitFor();

  // The customer types, then writes: both show up live.
  await customer.send({ type: 'typing', is_typing: true });
  await view.getByText('Ana Lima is typing…').waitFor();
  await customer.send({ type: 'message.send', client_msg_id: 'c1', text: 'Hi, I need a refund for order A-1001' });
  await view.locator('.msg-customer', { hasText: 'I need a refund' }).waitFor();
  await view.getByText('Ana Lima is typing…').waitFor({ state: 'detached' });

  // Bruno replies; the customer receives it.
  const reply = view.getByLabel('Reply to the customer');
  await reply.fill('Hello Ana, let me check that for you.');
  await reply.press('Enter');
  await customer.waitFor((f) => f.type === 'message.new' && f.message.text === 'Hello Ana, let me check that for you.');
  await view.locator('.msg-agent', { hasText: 'let me check' }).waitFor();

  // A tag, added from the conversation header, reaches the server and the list.
  await view.getByLabel('Add a tag').selectOption('vip');
  await view.getByRole('button', { name: 'Remove tag vip' }).waitFor();
  assert.deepEqual((await api(server, 'GET', `/api/v1/conversations/${cid}`, undefined, brunoToken)).tags, ['vip']);
  await page.locator(`.conv-item[data-id="${cid}"]`).getByText('vip').waitFor();

  // An internal note: shown as a note, stored, never sent to the customer.
  await view.getByRole('radio', { name: 'Private note' }).click();
  const note = view.getByLabel('Internal note');
  await note.fill('Refund approved by finance');
  await note.press('Enter');
  await view.locator('.note', { hasText: 'Refund approved by finance' }).getByText('Internal note').waitFor();
  const notes = await api(server, 'GET', `/api/v1/conversations/${cid}/notes`, undefined, brunoToken);
  assert.deepEqual(notes.items.map((n) => n.text), ['Refund approved by finance']);

  // A macro through `/`: the popup filters by title, Enter inserts it filled in.
  await view.getByRole('radio', { name: 'Reply' }).click();
  await reply.fill('/refu');
  const option = view.getByRole('option', { name: /Refund policy/ });
  await option.waitFor();
  await reply.press('Enter');
  assert.equal(await reply.inputValue(), 'Hi Ana, refunds take 5 days.');
  await reply.press('Enter');
  await customer.waitFor((f) => f.type === 'message.new' && f.message.text === 'Hi Ana, refunds take 5 days.');
  // The note was written before the macro reply reached the customer, so
  // had it been sent at all it would be here by now.
  const frames = JSON.stringify(await customer.frames());
  assert.ok(!frames.includes('Refund approved by finance'), 'the customer never receives the note');
  assert.ok(!frames.includes('note.created'));
  // Toasts come and go on their own; the screenshot shows the page under them.
  await page.locator('.toast').evaluateAll((els) => els.forEach((el) => el.remove()));
  await screenshot(page, 'dashboard');

  // Transfer to the Billing queue with a note for the receiver.
  await view.getByRole('button', { name: 'Transfer' }).click();
  const dialog = page.getByRole('dialog', { name: 'Transfer conversation' });
  await dialog.getByLabel('A team’s queue').check();
  await dialog.getByLabel('Team', { exact: true }).selectOption(String(billing.id));
  await dialog.getByLabel('Note for the receiver').fill('Customer wants the refund today');
  await dialog.getByRole('button', { name: 'Transfer' }).click();
  await dialog.waitFor({ state: 'detached' });
  const moved = await api(server, 'GET', `/api/v1/conversations/${cid}`, undefined, admin.access_token);
  assert.equal(moved.team_id, billing.id);
  assert.equal(moved.state, 'queued');
  const allNotes = await api(server, 'GET', `/api/v1/conversations/${cid}/notes`, undefined, admin.access_token);
  assert.ok(allNotes.items.some((n) => n.text === 'Customer wants the refund today'));

  // Bruno is in Billing too: he accepts it from the queue, then closes it.
  await view.getByRole('button', { name: 'Accept' }).click();
  await view.getByRole('button', { name: 'Close', exact: true }).click();
  const closeDialog = page.getByRole('dialog', { name: 'Close conversation' });
  await closeDialog.getByLabel('Reason').selectOption('');
  await closeDialog.getByPlaceholder('Reason').fill('refund issued');
  await closeDialog.getByRole('button', { name: 'Close conversation' }).click();
  await view.getByRole('button', { name: 'Reopen' }).waitFor();
  const closed = await api(server, 'GET', `/api/v1/conversations/${cid}`, undefined, admin.access_token);
  assert.equal(closed.state, 'closed');
  assert.equal(closed.closed_reason, 'refund issued');
  assert.equal(closed.assignee_id, bruno.id);
  await customer.waitFor((f) => f.type === 'conversation.updated' && f.conversation.state === 'closed');
  assert.deepEqual(page.errors, []);
  await page.close();
  await customerPage.close();
});

test('older history loads when scrolling up, a page at a time', async () => {
  await createUser('Carla Agent', 'carla@browser.test', 'agent', [support.id]);
  const carlaToken = (await login(server, 'carla@browser.test', PASSWORD)).access_token;
  const customerPage = await browser.newPage();
  const customer = await scriptedCustomer(customerPage, server, { name: 'Hugo Long', issue_type: 'Support' });
  const cid = customer.conversationId;
  await api(server, 'POST', `/api/v1/conversations/${cid}/assign`, { agent_id: (await api(server, 'GET', '/api/v1/me', undefined, carlaToken)).id }, admin.access_token);
  await customerPage.evaluate(async (c) => {
    for (let i = 1; i <= 75; i += 1) {
      window.customers[c].ws.send(JSON.stringify({ type: 'message.send', client_msg_id: `h${i}`, text: `history ${i}` }));
    }
  }, cid);
  await customer.waitFor((f) => f.type === 'message.ack' && f.message.seq === 75);

  const page = await staffPage();
  await loginInBrowser(page, server, 'carla@browser.test', PASSWORD);
  await page.goto(`${server.url}/app/#/inbox/${cid}`);
  const view = page.locator(`#conversation-${cid}`);
  const messages = view.locator('.msg');
  await view.getByText('history 75', { exact: true }).waitFor();
  assert.equal(await messages.count(), 30, 'the newest page only');
  assert.equal(await view.getByText('history 45', { exact: true }).count(), 0);

  const timeline = view.locator('.timeline');
  await timeline.evaluate((el) => { el.scrollTop = 0; });
  await view.getByText('history 45', { exact: true }).waitFor();
  assert.equal(await messages.count(), 60);
  // What the agent was reading stays in view rather than jumping.
  assert.ok(await timeline.evaluate((el) => el.scrollTop > 0));
  await timeline.evaluate((el) => { el.scrollTop = 0; });
  await view.getByText('history 1', { exact: true }).waitFor();
  await view.getByText('This is the beginning of the conversation.').waitFor();
  assert.equal(await messages.count(), 75);
  const seqs = await messages.evaluateAll((els) => els.map((e) => Number(e.dataset.seq)));
  assert.deepEqual(seqs, Array.from({ length: 75 }, (_, i) => i + 1), 'in order, once each');
  assert.deepEqual(page.errors, []);
  await page.close();
  await customerPage.close();
});

test('after a dropped connection nothing is lost or doubled', async () => {
  await createUser('Dina Agent', 'dina@browser.test', 'agent', [support.id]);
  const dinaToken = (await login(server, 'dina@browser.test', PASSWORD)).access_token;
  const dina = await api(server, 'GET', '/api/v1/me', undefined, dinaToken);
  const page = await staffPage();
  // Keep a handle on the app's sockets so the test can cut one.
  await page.addInitScript(() => {
    const Native = window.WebSocket;
    window.sockets = [];
    window.WebSocket = class extends Native {
      constructor(...args) {
        super(...args);
        window.sockets.push(this);
      }
    };
  });
  await loginInBrowser(page, server, 'dina@browser.test', PASSWORD);
  const customerPage = await browser.newPage();
  const customer = await scriptedCustomer(customerPage, server, { name: 'Ivo Drop', issue_type: 'Support' });
  const cid = customer.conversationId;
  await api(server, 'POST', `/api/v1/conversations/${cid}/assign`, { agent_id: dina.id }, admin.access_token);
  await page.goto(`${server.url}/app/#/inbox/${cid}`);
  const view = page.locator(`#conversation-${cid}`);
  await customer.send({ type: 'message.send', client_msg_id: 'd1', text: 'before the drop' });
  await view.getByText('before the drop').waitFor();

  // Cut the socket, then write on both sides while it is down.
  await page.evaluate(() => window.sockets.at(-1).close());
  const reply = view.getByLabel('Reply to the customer');
  await reply.fill('written while offline');
  await reply.press('Enter');
  await customer.send({ type: 'message.send', client_msg_id: 'd2', text: 'sent during the drop' });
  await customer.waitFor((f) => f.type === 'message.ack' && f.client_msg_id === 'd2');

  // The app reconnects, resumes, and resends its pending reply once.
  await view.getByText('sent during the drop').waitFor();
  await customer.waitFor((f) => f.type === 'message.new' && f.message.text === 'written while offline');
  await view.locator('.msg-agent:not(.msg-pending)', { hasText: 'written while offline' }).waitFor();
  assert.ok(await page.evaluate(() => window.sockets.length) >= 2, 'a new socket was opened');
  const history = await api(server, 'GET', `/api/v1/conversations/${cid}/messages`, undefined, dinaToken);
  assert.deepEqual(history.items.map((m) => m.text).sort(),
    ['before the drop', 'sent during the drop', 'written while offline'].sort());
  for (const text of ['before the drop', 'sent during the drop', 'written while offline']) {
    assert.equal(await view.locator('.msg', { hasText: text }).count(), 1, text);
  }
  const received = (await customer.frames()).filter((f) => f.type === 'message.new' && f.message.text === 'written while offline');
  assert.equal(received.length, 1, 'the customer got the reply once');
  assert.deepEqual(page.errors, []);
  await page.close();
  await customerPage.close();
});

test('several conversations stay open as tabs, each with its own draft', async () => {
  await createUser('Emil Agent', 'emil@browser.test', 'agent', [support.id]);
  const emil = await api(server, 'GET', '/api/v1/me', undefined, (await login(server, 'emil@browser.test', PASSWORD)).access_token);
  const customerPage = await browser.newPage();
  const ids = [];
  for (const name of ['Jon First', 'Kim Second']) {
    const c = await scriptedCustomer(customerPage, server, { name, issue_type: 'Support' });
    await api(server, 'POST', `/api/v1/conversations/${c.conversationId}/assign`, { agent_id: emil.id }, admin.access_token);
    ids.push(c.conversationId);
  }
  const page = await staffPage();
  await loginInBrowser(page, server, 'emil@browser.test', PASSWORD);
  const list = page.getByRole('list', { name: 'Conversations' });
  await list.getByRole('link', { name: /Kim Second/ }).waitFor();
  // The search filters the list on the server and live.
  await page.getByLabel('Search conversations').fill('kim');
  await list.getByRole('link', { name: /Jon First/ }).waitFor({ state: 'detached' });
  assert.equal(await list.getByRole('link').count(), 1);
  await page.getByLabel('Search conversations').fill('');
  await list.getByRole('link', { name: /Jon First/ }).click();
  await page.locator(`#conversation-${ids[0]}`).getByLabel('Reply to the customer').fill('draft for Jon');
  await list.getByRole('link', { name: /Kim Second/ }).click();
  const kim = page.locator(`#conversation-${ids[1]}`);
  await kim.getByLabel('Reply to the customer').fill('draft for Kim');
  const tabs = page.getByRole('tablist', { name: 'Open conversations' });
  assert.equal(await tabs.getByRole('tab').count(), 2);
  await tabs.getByRole('tab', { name: 'Jon First' }).click();
  const jon = page.locator(`#conversation-${ids[0]}`);
  await jon.waitFor();
  assert.equal(await kim.isVisible(), false, 'one conversation shows at a time');
  assert.equal(await jon.getByLabel('Reply to the customer').inputValue(), 'draft for Jon');
  await tabs.getByRole('tab', { name: 'Kim Second' }).click();
  // Shown in the same task that focuses its composer (after the hashchange),
  // so focus can be moved on without that landing later and taking it back.
  await kim.waitFor();
  assert.equal(await kim.getByLabel('Reply to the customer').inputValue(), 'draft for Kim');
  // The list's tabs work from the keyboard.
  await page.getByRole('tab', { name: /Mine/ }).focus();
  await page.keyboard.press('ArrowRight');
  await page.getByRole('tab', { name: /Queue/, selected: true }).waitFor();
  assert.equal(await page.evaluate(() => document.activeElement?.dataset.tab), 'queue');
  await page.keyboard.press('ArrowLeft');
  await page.getByRole('tab', { name: /Mine/, selected: true }).waitFor();
  await tabs.getByRole('button', { name: 'Close Kim Second' }).click();
  await kim.waitFor({ state: 'detached' });
  await jon.waitFor();
  assert.equal(await tabs.getByRole('tab').count(), 1);
  assert.deepEqual(page.errors, []);
  await page.close();
  await customerPage.close();
});

test('the session refreshes its tokens before the access token expires', async () => {
  const page = await staffPage();
  await loginInBrowser(page, server, 'emil@browser.test', PASSWORD);
  const before = await page.evaluate(() => JSON.parse(sessionStorage.getItem('switchboard.session')));
  // Pretend the access token expires in 61 s: the app refreshes at once
  // (a minute early) when it next loads.
  await page.evaluate(() => {
    const s = JSON.parse(sessionStorage.getItem('switchboard.session'));
    sessionStorage.setItem('switchboard.session', JSON.stringify({ ...s, expires_at: Date.now() + 61_000 }));
  });
  await page.reload();
  await page.getByRole('tab', { name: /Mine/ }).waitFor();
  const after = await page.waitForFunction((old) => {
    const s = JSON.parse(sessionStorage.getItem('switchboard.session'));
    return s.refresh_token !== old && s;
  }, before.refresh_token).then((h) => h.jsonValue());
  assert.ok(after.expires_at > Date.now() + 10 * 60_000, 'a fresh 15-minute token');
  // The new pair works; the old refresh token was spent by the rotation.
  const me = await api(server, 'GET', '/api/v1/me', undefined, after.access_token);
  assert.equal(me.email, 'emil@browser.test');
  await page.getByRole('link', { name: 'My macros' }).click();
  await page.getByRole('heading', { name: 'My macros' }).waitFor();
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('the new-conversation toast shows even when a REST copy said "yours" before the frame came', async () => {
  // A team of her own, so nobody else online can be given the conversation.
  const race = await api(server, 'POST', '/api/v1/teams', { name: 'Race' }, admin.access_token);
  await createUser('Fay Agent', 'fay@browser.test', 'agent', [race.id]);
  const fayToken = (await login(server, 'fay@browser.test', PASSWORD)).access_token;
  const page = await staffPage();
  // Between the app and the server: `conversation.assigned` frames wait
  // until the test lets them through, so the app can be made to read the
  // conversation over REST first (as the inbox list or a queue entry's
  // fetch can, when the frame is a little late).
  let held = null;
  let toPage = null;
  await page.routeWebSocket(/\/ws\/v1\/agent/, (ws) => {
    const upstream = ws.connectToServer();
    toPage = ws;
    ws.onMessage((m) => upstream.send(m));
    upstream.onMessage((m) => {
      if (held && String(m).includes('"conversation.assigned"')) held.push(m);
      else ws.send(m);
    });
  });
  await loginInBrowser(page, server, 'fay@browser.test', PASSWORD);
  await page.getByLabel('Your status').selectOption('online');
  await eventually(async () => (await api(server, 'GET', '/api/v1/me', undefined, fayToken)).status === 'online',
    { what: 'Fay online on the server' });

  held = [];
  const customerPage = await browser.newPage();
  const customer = await scriptedCustomer(customerPage, server, { name: 'Rita Race', issue_type: 'Race' });
  await eventually(() => held.length > 0, { what: 'the assignment frame held back' });
  // The inbox fetches the list: the conversation is already Fay's there.
  await page.getByLabel('Search conversations').fill('Rita Race');
  const list = page.getByRole('list', { name: 'Conversations' });
  await list.getByRole('link', { name: /Rita Race/ }).waitFor();
  assert.equal(await page.locator('.toast', { hasText: 'New conversation' }).count(), 0);

  for (const m of held) toPage.send(m);
  held = null;
  await page.locator('.toast', { hasText: 'New conversation: Rita Race' }).waitFor();
  assert.equal((await api(server, 'GET', `/api/v1/conversations/${customer.conversationId}`, undefined, fayToken)).state, 'assigned');
  assert.deepEqual(page.errors, []);
  await page.close();
  await customerPage.close();
});

test('accepting from the queue brings no "new conversation" toast for what the agent took himself', async () => {
  const hand = await api(server, 'POST', '/api/v1/teams', { name: 'By hand', auto_assign: false }, admin.access_token);
  await createUser('Gus Agent', 'gus@browser.test', 'agent', [hand.id]);
  const page = await staffPage();
  await loginInBrowser(page, server, 'gus@browser.test', PASSWORD);
  const customerPage = await browser.newPage();
  const customer = await scriptedCustomer(customerPage, server, { name: 'Hal Hand', issue_type: 'By hand' });
  const cid = customer.conversationId;
  await page.goto(`${server.url}/app/#/inbox/${cid}`);
  const view = page.locator(`#conversation-${cid}`);
  await view.getByRole('button', { name: 'Accept' }).click();
  await view.getByRole('button', { name: 'Close', exact: true }).waitFor();
  // Frames come in order: once this message shows, the accept's
  // `conversation.assigned` has been handled too.
  await customer.send({ type: 'message.send', client_msg_id: 'h1', text: 'thanks for taking it' });
  await view.getByText('thanks for taking it').waitFor();
  assert.equal(await page.locator('.toast', { hasText: 'New conversation' }).count(), 0);
  assert.deepEqual(page.errors, []);
  await page.close();
  await customerPage.close();
});
