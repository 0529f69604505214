// The widget's Markdown subset, run in the browser on the module it ships:
// formatting works, and nothing in a message can become markup, a script
// or an unsafe link. Also how the chat view labels senders.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser } from './harness.mjs';

let server;
let browser;
let page;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  page = await browser.newPage();
  await page.goto(`${server.url}/demo/`);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** The HTML the renderer builds for each input. */
function render(inputs) {
  return page.evaluate(async (texts) => {
    const { renderMarkdown } = await import('/widget/markdown.js');
    return texts.map((t) => {
      const div = document.createElement('div');
      div.append(renderMarkdown(t));
      return div.innerHTML;
    });
  }, inputs);
}

const LINK = 'target="_blank" rel="noopener noreferrer nofollow"';

test('bold, italic, code, lists, code blocks and links render as elements', async () => {
  const cases = [
    ['**bold**, __also__, *it*, _it_ and `x < y`', '<p><strong>bold</strong>, <strong>also</strong>, <em>it</em>, <em>it</em> and <code>x &lt; y</code></p>'],
    ['- one\n- two\n\n1. first\n2. second', '<ul><li>one</li><li>two</li></ul><ol><li>first</li><li>second</li></ol>'],
    ['line one\nline two\n\nnext paragraph', '<p>line one<br>line two</p><p>next paragraph</p>'],
    ['```\n<b>raw</b>\n  indented\n```', '<pre><code>&lt;b&gt;raw&lt;/b&gt;\n  indented</code></pre>'],
    ['[our site](https://example.com/a?b=1&c=2)', `<p><a href="https://example.com/a?b=1&amp;c=2" ${LINK}>our site</a></p>`],
    ['see https://example.com/x. or (https://example.com/y)', `<p>see <a href="https://example.com/x" ${LINK}>https://example.com/x</a>. or (<a href="https://example.com/y" ${LINK}>https://example.com/y</a>)</p>`],
    ['mail mailto:ana@example.com', `<p>mail <a href="mailto:ana@example.com" ${LINK}>mailto:ana@example.com</a></p>`],
    ['**[bold link](https://e.com/)**', `<p><strong><a href="https://e.com/" ${LINK}>bold link</a></strong></p>`],
  ];
  const got = await render(cases.map((c) => c[0]));
  cases.forEach(([input, want], i) => assert.equal(got[i], want, input));
});

test('markup, scripts and unsafe URLs stay plain text', async () => {
  const cases = [
    ['<img src=x onerror=alert(1)>', '<p>&lt;img src=x onerror=alert(1)&gt;</p>'],
    ['<script>alert(1)</script>', '<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>'],
    ['[click](javascript:alert(1))', '<p>[click](javascript:alert(1))</p>'],
    ['[x](data:text/html,hi)', '<p>[x](data:text/html,hi)</p>'],
    ['[x](vbscript:msgbox)', '<p>[x](vbscript:msgbox)</p>'],
    ['javascript:alert(1)', '<p>javascript:alert(1)</p>'],
    ['[a](https://ok.example/"onmouseover="x)', `<p><a href="https://ok.example/%22onmouseover=%22x" ${LINK}>a</a></p>`],
    ['`<b>` **<i>x</i>**', '<p><code>&lt;b&gt;</code> <strong>&lt;i&gt;x&lt;/i&gt;</strong></p>'],
  ];
  const got = await render(cases.map((c) => c[0]));
  cases.forEach(([input, want], i) => assert.equal(got[i], want, input));
});

test('what only looks like formatting is left alone', async () => {
  const cases = [
    ['snake_case_name and 2 * 3 * 4', '<p>snake_case_name and 2 * 3 * 4</p>'],
    ['\\*not italic\\* and a lone * star', '<p>*not italic* and a lone * star</p>'],
    ['**unclosed bold', '<p>**unclosed bold</p>'],
    ['an `unclosed code', '<p>an `unclosed code</p>'],
    ['```\nnever closed', '<p>```<br>never closed</p>'],
  ];
  const got = await render(cases.map((c) => c[0]));
  cases.forEach(([input, want], i) => assert.equal(got[i], want, input));
});

test('bot messages render like agent messages, with a bot label; agents show their name', async () => {
  const labels = await page.evaluate(async () => {
    const { ChatView } = await import('/widget/chat.js');
    const { strings } = await import('/widget/i18n.js');
    const noop = () => {};
    const view = new ChatView({ t: strings('en'), onSend: noop, onRetry: noop, onTyping: noop, onRate: noop, onDownload: noop, onNewChat: noop });
    const bot = { seq: 1, text: 'I can help with **orders**', created_at: new Date().toISOString(), sender: { kind: 'bot', id: null, name: 'Triage' } };
    const agent = { seq: 2, text: 'Hi, Bruno here', created_at: new Date().toISOString(), sender: { kind: 'agent', id: 7, name: 'Bruno' } };
    const again = { seq: 3, text: 'Second line from Bruno', created_at: new Date().toISOString(), sender: { kind: 'agent', id: 7, name: 'Bruno' } };
    for (const m of [bot, agent, again]) {
      view.rememberSender(m);
      view.upsert(m, false);
    }
    return [...view.log.querySelectorAll('li.msg:not(.welcome)')].map((li) => ({
      classes: li.className,
      who: li.querySelector('.who')?.textContent ?? null,
      badge: li.querySelector('.who .badge')?.textContent ?? null,
      bold: li.querySelector('.bubble strong')?.textContent ?? null,
    }));
  });
  assert.deepEqual(labels, [
    { classes: 'msg them bot', who: 'TriageBot', badge: 'Bot', bold: 'orders' },
    { classes: 'msg them', who: 'Bruno', badge: null, bold: null },
    { classes: 'msg them', who: null, badge: null, bold: null },
  ]);
});
