// Helpers for the widget's browser tests: a desk (team, agent), driving the
// widget through its accessible roles and labels, and reading what it shows.

import { api, login } from './harness.mjs';
import { AgentSocket, createAgent } from './agent.mjs';

/**
 * The admin token and a team that assigns automatically, with one online
 * agent connected over a staff socket.
 * @param {{url: string}} server
 * @param {{team?: string, agentName?: string}} [opts]
 */
export async function desk(server, { team = 'Support', agentName = 'Bruno Agent' } = {}) {
  const admin = (await login(server)).access_token;
  const teams = await api(server, 'GET', '/api/v1/teams', undefined, admin);
  const existing = teams.items.find((t) => t.name === team);
  const teamId = existing ? existing.id : (await api(server, 'POST', '/api/v1/teams', { name: team }, admin)).id;
  const agent = await createAgent(server, admin, { teamIds: [teamId], name: agentName });
  const socket = await AgentSocket.open(server, agent.token);
  return { admin, teamId, agent, socket };
}

/** The widget's host element. */
export function widget(page) {
  return page.locator('switchboard-widget');
}

/** Opens the launcher. */
export async function openWidget(page) {
  await page.getByRole('button', { name: /^Open chat/ }).click();
  await page.getByRole('dialog').first().waitFor();
}

/**
 * Fills and sends the pre-chat form; resolves once the composer is there.
 * @param {import('playwright-core').Page} page
 * @param {{name?: string, email?: string, issue?: string, message?: string, fields?: Record<string, string>}} [form]
 */
export async function startChat(page, { name = 'Ana Visitor', email, issue, message, fields = {} } = {}) {
  await page.getByLabel('Name', { exact: true }).fill(name);
  if (email) await page.getByLabel(/^E-mail/).fill(email);
  if (issue) await page.getByLabel('What is it about?').selectOption(issue);
  for (const [label, value] of Object.entries(fields)) await page.getByLabel(label, { exact: true }).fill(value);
  if (message) await page.getByLabel('How can we help? (optional)').fill(message);
  await page.getByRole('button', { name: 'Start chat' }).click();
  await composer(page).waitFor();
}

/** The message box. */
export function composer(page) {
  return page.getByRole('textbox', { name: 'Message', exact: true });
}

/** The message log. */
export function messageLog(page) {
  return page.getByRole('log', { name: 'Messages' });
}

/** A message bubble (li) whose text contains `text`. */
export function bubble(page, text) {
  return messageLog(page).locator('li.msg').filter({ has: page.locator('.bubble', { hasText: text }) });
}

/** Types and sends a message with Enter. */
export async function send(page, text) {
  await composer(page).fill(text);
  await composer(page).press('Enter');
}

/** The texts of every bubble in the log, in order (welcome excluded). */
export function logTexts(page) {
  return messageLog(page).locator('li.msg:not(.welcome) .bubble').allInnerTexts();
}

/**
 * The stored messages of a conversation, over the admin API.
 * @returns {Promise<Array<{seq: number, text: string, sender: {kind: string}}>>}
 */
export async function storedMessages(server, admin, conversationId) {
  const page = await api(server, 'GET', `/api/v1/conversations/${conversationId}/messages?after_seq=0&limit=200`, undefined, admin);
  return page.items;
}

/** Waits until `check()` is true (for server state); bounded. */
export async function eventually(check, what, timeoutMs = 10000) {
  const until = Date.now() + timeoutMs;
  let last;
  while (Date.now() < until) {
    last = await check();
    if (last) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`never true: ${what}`);
}

/** The conversation the agent was just given (auto-assignment), followed. */
export async function assigned(socket, { from = 0 } = {}) {
  const frame = await socket.next((f) => f.type === 'conversation.assigned', 'conversation.assigned', { from });
  return frame.conversation;
}
