// The widget end to end against the real server, with a scripted agent on
// the staff socket: pre-chat → assignment → messages both ways with typing
// and receipts → close → CSAT → transcripts; a reconnect that loses and
// doubles nothing; a page navigation that keeps the conversation.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { startServer, launchBrowser, api, screenshot } from './harness.mjs';
import {
  desk, openWidget, startChat, composer, messageLog, bubble, send, logTexts,
  storedMessages, eventually, assigned,
} from './widget_helpers.mjs';

let server;
let browser;
let team;

before(async () => {
  server = await startServer({ env: { SWITCHBOARD__LIMITS__WIDGET_SESSIONS_PER_IP_PER_MINUTE: '1000' } });
  browser = await launchBrowser();
  team = await desk(server);
  await api(server, 'PUT', '/api/v1/widget/settings', {
    title: 'Demo Shop help',
    welcome_message: 'Hi! Ask us **anything**.',
    primary_color: '#0f766e',
    logo_url: null,
    position: 'right',
    pre_chat_fields: [{ name: 'order_number', label: 'Order number', type: 'text', required: true }],
    offline_message: 'Nobody is here; leave a message.',
  }, team.admin);
});

after(async () => {
  team?.socket.close();
  await browser?.close();
  await server?.stop();
});

async function freshPage(viewport = { width: 1280, height: 800 }) {
  const context = await browser.newContext({ viewport, acceptDownloads: true });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  return { context, page, errors };
}

test('a visitor completes pre-chat, chats with an agent both ways, ends, rates and downloads the transcript', async () => {
  const { context, page, errors } = await freshPage();
  const { socket, agent, admin } = team;
  await page.goto(`${server.url}/demo/`);
  const launcher = page.getByRole('button', { name: 'Open chat' });
  await launcher.waitFor();
  await screenshot(page, 'widget-launcher', { fullPage: false });

  await openWidget(page);
  const dialog = page.getByRole('dialog', { name: 'Demo Shop help' });
  await dialog.waitFor();
  const hiddenLauncher = page.getByRole('button', { name: 'Open chat', includeHidden: true });
  assert.equal(await hiddenLauncher.getAttribute('aria-expanded'), 'true');
  assert.equal(await hiddenLauncher.isVisible(), false, 'the launcher gives way to the panel');
  await page.getByLabel('Order number').waitFor();
  await screenshot(page, 'widget-prechat', { fullPage: false });

  // Validation: required fields and a bad e-mail are refused on the spot.
  await page.getByRole('button', { name: 'Start chat' }).click();
  const name = page.getByLabel('Name', { exact: true });
  assert.equal(await name.getAttribute('aria-invalid'), 'true');
  await page.getByText('Please fill this in').first().waitFor();
  assert.equal(await page.getByLabel('Order number').getAttribute('aria-invalid'), 'true');
  await page.getByLabel(/^E-mail/).fill('not-an-address');
  await page.getByRole('button', { name: 'Start chat' }).click();
  await page.getByText('Please enter a valid e-mail address').waitFor();
  const before = (await api(server, 'GET', '/api/v1/conversations', undefined, admin)).items.length;
  assert.equal(before, 0, 'nothing was created by refused forms');

  const mark = socket.mark();
  await startChat(page, {
    name: 'Ana Customer', email: 'ana@example.com', issue: 'Order status',
    fields: { 'Order number': 'DS-1042' }, message: 'Hi, where is my order?',
  });
  const conversation = await assigned(socket, { from: mark });
  const cid = conversation.id;
  assert.equal(conversation.assignee_id, agent.id, 'auto-assigned to the online agent');
  const stored = await api(server, 'GET', `/api/v1/conversations/${cid}`, undefined, admin);
  assert.equal(stored.visitor.name, 'Ana Customer');
  assert.equal(stored.visitor.email, 'ana@example.com');
  assert.equal(stored.issue_type, 'Order status');
  assert.deepEqual(stored.attributes, { order_number: 'DS-1042' });
  assert.match(stored.visitor.user_agent, /Chrome/);
  assert.equal(stored.visitor.page_url, `${server.url}/demo/`);

  // The first message typed in the form arrives (in the history or live,
  // depending on when the widget's socket got there), and the agent joins.
  let from = socket.mark();
  await socket.resume(cid);
  await socket.customerMessage(cid, 'Hi, where is my order?', { from });
  await bubble(page, 'Hi, where is my order?').waitFor();
  await page.getByText(`${agent.name} joined the chat`).waitFor();
  await page.getByText(`You're chatting with ${agent.name}`).waitFor();

  // Agent typing → the widget shows it; the message replaces it.
  socket.typing(cid, true);
  const typingLine = page.getByText(`${agent.name} is typing…`);
  await typingLine.waitFor();
  await socket.say(cid, 'It shipped **yesterday**. Track it: https://example.com/track/1042 or [here](javascript:alert(1))');
  const reply = bubble(page, 'It shipped');
  await reply.waitFor();
  await typingLine.waitFor({ state: 'hidden' });
  assert.equal(await reply.locator('strong').innerText(), 'yesterday');
  const link = reply.getByRole('link', { name: 'https://example.com/track/1042' });
  assert.equal(await link.getAttribute('target'), '_blank');
  assert.equal(await link.getAttribute('rel'), 'noopener noreferrer nofollow');
  assert.equal(await reply.getByRole('link').count(), 1, 'the javascript: link stayed text');
  assert.match(await reply.innerText(), /\[here\]\(javascript:alert\(1\)\)/);
  assert.equal(await reply.locator('.who').innerText(), agent.name);

  // Customer typing → the agent sees it.
  from = socket.mark();
  await composer(page).pressSequentially('Thanks');
  const typing = await socket.next((f) => f.type === 'typing' && f.conversation_id === cid, 'customer typing', { from });
  assert.equal(typing.is_typing, true);
  assert.equal(typing.by.kind, 'customer');
  await composer(page).press('Enter');
  const thanks = await socket.customerMessage(cid, 'Thanks', { from });
  const mine = bubble(page, 'Thanks');
  await mine.locator('[data-status="delivered"], [data-status="read"]').waitFor();
  socket.read(cid, thanks.seq);
  await mine.getByRole('img', { name: 'Read' }).waitFor();
  await bubble(page, 'Hi, where is my order?').getByRole('img', { name: 'Read' }).waitFor();

  // Emoji picker, by keyboard.
  await page.getByRole('button', { name: 'Insert emoji' }).click();
  const picker = page.getByRole('dialog', { name: 'Emoji' });
  await picker.waitFor();
  await page.keyboard.press('ArrowRight');
  await page.getByRole('gridcell', { name: 'thumbs up' }).click();
  await picker.waitFor({ state: 'hidden' });
  assert.equal(await composer(page).inputValue(), '👍');
  from = socket.mark();
  await composer(page).press('Enter');
  await socket.customerMessage(cid, '👍', { from });
  await screenshot(page, 'widget-chat', { fullPage: false });

  // The agent ends the chat; the visitor rates it.
  await api(server, 'POST', `/api/v1/conversations/${cid}/close`, {}, agent.token);
  await page.getByText('This chat has ended.').first().waitFor();
  assert.equal(await composer(page).count(), 0, 'no composer after the end');
  await page.getByRole('radiogroup', { name: 'How was your chat?' }).waitFor();
  await screenshot(page, 'widget-csat', { fullPage: false });
  await page.getByRole('button', { name: 'Send rating' }).click();
  await page.getByText('Please choose a rating').waitFor();
  await page.getByRole('radio', { name: '4 of 5' }).check();
  await page.getByLabel('Tell us more (optional)').fill('Quick and kind');
  await page.getByRole('button', { name: 'Send rating' }).click();
  await page.getByText('Thanks for your feedback!').waitFor();
  const rated = await api(server, 'GET', `/api/v1/conversations/${cid}`, undefined, admin);
  assert.deepEqual([rated.csat.score, rated.csat.comment], [4, 'Quick and kind']);

  // Transcripts, both formats.
  const [text] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download transcript (.txt)' }).click()]);
  assert.equal(text.suggestedFilename(), `conversation-${cid}.txt`);
  const body = await readFile(await text.path(), 'utf8');
  for (const line of ['Ana Customer: Hi, where is my order?', `${agent.name} (agent): It shipped **yesterday**`, 'Ana Customer: Thanks', 'Ana Customer: 👍']) {
    assert.ok(body.includes(line), `${line} in\n${body}`);
  }
  const [html] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download transcript (.html)' }).click()]);
  assert.equal(html.suggestedFilename(), `conversation-${cid}.html`);
  const page2 = await readFile(await html.path(), 'utf8');
  assert.match(page2, /^<!doctype html>/);
  assert.ok(page2.includes('[here](javascript:alert(1))') && !page2.includes('<a '), 'links are text in the HTML transcript');

  // Exactly what was said, once each, in order.
  const all = await storedMessages(server, admin, cid);
  assert.deepEqual(all.map((m) => m.text), [
    'Hi, where is my order?',
    'It shipped **yesterday**. Track it: https://example.com/track/1042 or [here](javascript:alert(1))',
    'Thanks',
    '👍',
  ]);
  assert.deepEqual(all.map((m) => m.sender.kind), ['customer', 'agent', 'customer', 'customer']);
  assert.deepEqual(errors, []);
  await context.close();
});

test('a reconnect mid-chat loses and doubles nothing, including messages typed while offline', async () => {
  const { context, page, errors } = await freshPage();
  const { socket, admin } = team;
  await page.goto(`${server.url}/demo/`);
  await openWidget(page);
  const mark = socket.mark();
  await startChat(page, { name: 'Olga Offline', issue: 'Billing', fields: { 'Order number': 'DS-7' } });
  const cid = (await assigned(socket, { from: mark })).id;
  await socket.resume(cid);
  let from = socket.mark();
  await send(page, 'before the tunnel');
  await socket.customerMessage(cid, 'before the tunnel', { from });
  await bubble(page, 'before the tunnel').locator('[data-status="delivered"], [data-status="read"]').waitFor();

  await context.setOffline(true);
  await page.getByText("You're offline. Messages will be sent when you're back.").waitFor();
  await send(page, 'typed offline 1');
  await send(page, 'typed offline 2');
  await bubble(page, 'typed offline 2').getByRole('img', { name: 'Will be sent when you are back online' }).waitFor();
  await socket.say(cid, 'said while you were away');
  assert.equal(await bubble(page, 'said while you were away').count(), 0, 'nothing arrives while offline');

  from = socket.mark();
  await context.setOffline(false);
  await bubble(page, 'said while you were away').waitFor();
  await socket.customerMessage(cid, 'typed offline 1', { from });
  await socket.customerMessage(cid, 'typed offline 2', { from });
  await bubble(page, 'typed offline 2').locator('[data-status="delivered"], [data-status="read"], [data-status="sent"]').waitFor();
  await page.getByText("You're offline").waitFor({ state: 'hidden' });

  const expected = ['before the tunnel', 'said while you were away', 'typed offline 1', 'typed offline 2'];
  const stored = await eventually(async () => {
    const items = await storedMessages(server, admin, cid);
    return items.length >= expected.length ? items : null;
  }, 'all messages stored');
  assert.deepEqual(stored.map((m) => m.text), expected, 'each message once, in order');
  assert.deepEqual(stored.map((m) => m.seq), [1, 2, 3, 4]);
  assert.deepEqual(await logTexts(page), expected, 'the widget shows each once, in seq order');
  const delivered = socket.frames.filter((f) => f.type === 'message.new' && f.message.conversation_id === cid && f.message.sender.kind === 'customer');
  assert.equal(new Set(delivered.map((f) => f.message.seq)).size, delivered.length, 'the agent got no duplicate');
  assert.deepEqual(errors, []);
  await context.close();
});

test('a socket dropped just after a send, its ack lost: the message is neither lost nor doubled', async () => {
  const { context, page, errors } = await freshPage();
  const { socket, admin } = team;
  let dropAckOf = null;
  let connections = 0;
  // A proxy between the widget and the server that can lose one ack and
  // cut the link right there, as a dying mobile connection would.
  await page.routeWebSocket(/\/ws\/v1\/customer/, (ws) => {
    connections += 1;
    const upstream = ws.connectToServer();
    ws.onMessage((m) => upstream.send(m));
    upstream.onMessage((m) => {
      if (dropAckOf && String(m).includes('"message.ack"') && String(m).includes(dropAckOf)) {
        dropAckOf = null;
        ws.close({ code: 4000, reason: 'test: link lost' });
        return;
      }
      ws.send(m);
    });
  });
  await page.goto(`${server.url}/demo/`);
  await openWidget(page);
  const mark = socket.mark();
  await startChat(page, { name: 'Lou Lostack', issue: 'Billing', fields: { 'Order number': 'DS-11' } });
  const cid = (await assigned(socket, { from: mark })).id;
  await socket.resume(cid);
  assert.equal(connections, 1);

  let from = socket.mark();
  dropAckOf = 'ack goes missing';
  await send(page, 'ack goes missing');
  await socket.customerMessage(cid, 'ack goes missing', { from });
  // Stored, but the widget never heard so: it reconnects, resumes, and
  // learns from the history that the message is in.
  await bubble(page, 'ack goes missing').locator('[data-status="sent"], [data-status="delivered"], [data-status="read"]').waitFor();
  assert.ok(connections >= 2, `the widget reconnected (${connections} connections)`);
  from = socket.mark();
  await send(page, 'after the drop');
  await socket.customerMessage(cid, 'after the drop', { from });
  const stored = await storedMessages(server, admin, cid);
  assert.deepEqual(stored.map((m) => m.text), ['ack goes missing', 'after the drop']);
  assert.deepEqual(await logTexts(page), ['ack goes missing', 'after the drop']);
  assert.deepEqual(errors, []);
  await context.close();
});

test('a refused send shows "not sent", a tap retries it once; the visitor ends the chat from the menu', async () => {
  const { context, page, errors } = await freshPage();
  const { socket, admin } = team;
  let refuse = true;
  // Between the widget and the server: the first send of one message gets
  // an error answer instead of reaching the server.
  await page.routeWebSocket(/\/ws\/v1\/customer/, (ws) => {
    const upstream = ws.connectToServer();
    ws.onMessage((m) => {
      const frame = JSON.parse(String(m));
      if (refuse && frame.type === 'message.send' && frame.text === 'please retry me') {
        refuse = false;
        ws.send(JSON.stringify({ type: 'error', ref: frame.ref, code: 'bad_request', message: 'test: refused' }));
        return;
      }
      upstream.send(m);
    });
  });
  await page.goto(`${server.url}/demo/`);
  await openWidget(page);
  const mark = socket.mark();
  await startChat(page, { name: 'Rita Retry', issue: 'Billing', fields: { 'Order number': 'DS-5' } });
  const cid = (await assigned(socket, { from: mark })).id;
  await socket.resume(cid);
  await send(page, 'please retry me');
  const retry = bubble(page, 'please retry me').getByRole('button', { name: 'Not sent. Tap to retry' });
  await retry.waitFor();
  assert.deepEqual(await storedMessages(server, admin, cid), [], 'the refused send stored nothing');
  const from = socket.mark();
  await retry.click();
  await socket.customerMessage(cid, 'please retry me', { from });
  await bubble(page, 'please retry me').locator('[data-status="delivered"], [data-status="read"]').waitFor();
  assert.equal(await retry.count(), 0);

  await page.getByRole('button', { name: 'More options' }).click();
  await page.getByRole('menuitem', { name: 'End chat' }).click();
  await page.getByText('End this chat?').waitFor();
  await page.getByRole('button', { name: 'End chat' }).click();
  await page.getByRole('radiogroup', { name: 'How was your chat?' }).waitFor();
  const closed = await api(server, 'GET', `/api/v1/conversations/${cid}`, undefined, admin);
  assert.equal(closed.state, 'closed');
  assert.equal(closed.closed_reason, 'customer');
  assert.deepEqual((await storedMessages(server, admin, cid)).map((m) => m.text), ['please retry me']);
  // A new chat starts over with the form, and a new conversation.
  await page.getByRole('button', { name: 'Start a new chat' }).click();
  await page.getByRole('button', { name: 'Start chat' }).waitFor();
  assert.deepEqual(errors, []);
  await context.close();
});

test('the conversation survives navigating the site, even with a message still unsent', async () => {
  const { context, page, errors } = await freshPage();
  const { socket, admin } = team;
  await page.goto(`${server.url}/demo/`);
  await openWidget(page);
  const mark = socket.mark();
  await startChat(page, { name: 'Nadia Navigator', issue: 'Something else', fields: { 'Order number': 'DS-9' } });
  const cid = (await assigned(socket, { from: mark })).id;
  await socket.resume(cid);
  await socket.say(cid, 'Hello Nadia');
  await bubble(page, 'Hello Nadia').waitFor();
  let from = socket.mark();
  await send(page, 'first page');
  await socket.customerMessage(cid, 'first page', { from });

  // Offline, type, come back and leave the page at once: whether the send
  // made it before the navigation or not, it must end up stored once.
  await context.setOffline(true);
  await page.getByText("You're offline").waitFor();
  await send(page, 'racing the navigation');
  await context.setOffline(false);
  from = socket.mark();
  await page.getByRole('link', { name: 'Checkout', exact: true }).click();
  await page.waitForURL(/checkout\.html$/);

  // The panel reopens by itself with the whole conversation.
  await page.getByRole('dialog', { name: 'Demo Shop help' }).waitFor();
  await bubble(page, 'Hello Nadia').waitFor();
  await bubble(page, 'first page').waitFor();
  await bubble(page, 'racing the navigation').locator('[data-status]:not([data-status="queued"]):not([data-status="pending"])').waitFor();
  await socket.say(cid, 'Still here?');
  await bubble(page, 'Still here?').waitFor();
  await send(page, 'yes, on the checkout page');
  await socket.customerMessage(cid, 'yes, on the checkout page', { from });
  const stored = await storedMessages(server, admin, cid);
  assert.deepEqual(stored.map((m) => m.text), ['Hello Nadia', 'first page', 'racing the navigation', 'Still here?', 'yes, on the checkout page']);
  assert.deepEqual(await logTexts(page), stored.map((m) => m.text));
  const mine = (await api(server, 'GET', '/api/v1/conversations?limit=200', undefined, admin)).items.filter((c) => c.visitor.name === 'Nadia Navigator');
  assert.equal(mine.length, 1, 'one conversation, not one per page');
  assert.deepEqual(errors, []);
  await context.close();
});

test('keyboard: the launcher opens the dialog, focus moves in, Escape closes and returns focus', async () => {
  const { context, page, errors } = await freshPage();
  await page.goto(`${server.url}/demo/`);
  const launcher = page.getByRole('button', { name: 'Open chat' });
  await launcher.waitFor();
  await launcher.focus();
  await page.keyboard.press('Enter');
  const dialog = page.getByRole('dialog', { name: 'Demo Shop help' });
  await dialog.waitFor();
  assert.equal(await dialog.getAttribute('aria-modal'), 'false');
  const name = page.getByLabel('Name', { exact: true });
  assert.equal(await name.evaluate((el) => el.getRootNode().activeElement === el), true, 'focus in the first field');
  await page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'hidden' });
  assert.equal(await launcher.evaluate((el) => el.getRootNode().activeElement === el), true, 'focus back on the launcher');
  assert.equal(await launcher.getAttribute('aria-expanded'), 'false');
  assert.equal(await messageLog(page).count(), 0);
  assert.deepEqual(errors, []);
  await context.close();
});

test('an unread badge counts agent messages while the panel is closed', async () => {
  const { context, page } = await freshPage();
  const { socket } = team;
  await page.goto(`${server.url}/demo/`);
  await openWidget(page);
  const mark = socket.mark();
  await startChat(page, { name: 'Bea Badge', issue: 'Billing', fields: { 'Order number': 'DS-3' } });
  const cid = (await assigned(socket, { from: mark })).id;
  await socket.resume(cid);
  await page.getByRole('button', { name: 'Close chat' }).click();
  await socket.say(cid, 'one');
  await socket.say(cid, 'two');
  const launcher = page.getByRole('button', { name: 'Open chat (2 unread messages)' });
  await launcher.waitFor();
  await screenshot(page, 'widget-badge', { fullPage: false });
  const from = socket.mark();
  await launcher.click();
  const receipt = await socket.next((f) => f.type === 'receipt' && f.kind === 'read' && f.by.kind === 'customer', 'read receipt', { from });
  assert.equal(receipt.up_to_seq, 2);
  await page.getByRole('button', { name: 'Close chat' }).click();
  await page.getByRole('button', { name: 'Open chat', exact: true }).waitFor();
  await context.close();
});
