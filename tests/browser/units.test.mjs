// Unit tests of the staff app's pure modules (no browser needed): the
// User-Agent parser and the formatting helpers.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseUserAgent, describeAgent } from '../../web/app/js/ua.js';
import { ago, waited, initials, fillMacro, visitorName } from '../../web/app/js/format.js';

const UAS = [
  ['Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36',
    { browser: 'Chrome', browserVersion: '120', os: 'Windows', osVersion: '10/11', device: 'desktop' }],
  ['Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91',
    { browser: 'Edge', browserVersion: '120', os: 'Windows', osVersion: '10/11', device: 'desktop' }],
  ['Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15',
    { browser: 'Safari', browserVersion: '17', os: 'macOS', osVersion: '10.15.7', device: 'desktop' }],
  ['Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1',
    { browser: 'Safari', browserVersion: '17', os: 'iOS', osVersion: '17.2', device: 'mobile' }],
  ['Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/119.0.6045.169 Mobile/15E148 Safari/604.1',
    { browser: 'Chrome', browserVersion: '119', os: 'iPadOS', osVersion: '16.6', device: 'tablet' }],
  ['Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.144 Mobile Safari/537.36',
    { browser: 'Chrome', browserVersion: '120', os: 'Android', osVersion: '14', device: 'mobile' }],
  ['Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Safari/537.36',
    { browser: 'Samsung Internet', browserVersion: '23', os: 'Android', osVersion: '13', device: 'tablet' }],
  ['Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0',
    { browser: 'Firefox', browserVersion: '121', os: 'Linux', osVersion: '', device: 'desktop' }],
  ['Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 OPR/105.0.0.0',
    { browser: 'Opera', browserVersion: '105', os: 'ChromeOS', osVersion: '', device: 'desktop' }],
  ['Mozilla/5.0 (Windows NT 6.1; WOW64; Trident/7.0; rv:11.0) like Gecko',
    { browser: 'Internet Explorer', browserVersion: '11', os: 'Windows', osVersion: '7', device: 'desktop' }],
  ['Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)',
    { browser: 'Unknown', browserVersion: '', os: 'Unknown', osVersion: '', device: 'bot' }],
  ['Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36',
    { browser: 'Headless Chrome', browserVersion: '120', os: 'Linux', osVersion: '', device: 'desktop' }],
  ['curl/8.5.0', { browser: 'Unknown', browserVersion: '', os: 'Unknown', osVersion: '', device: 'unknown' }],
];

test('the User-Agent parser names browser, system and device of common agents', () => {
  for (const [ua, expected] of UAS) {
    assert.deepEqual(parseUserAgent(ua), expected, ua);
  }
  assert.equal(parseUserAgent(null), null);
  assert.equal(parseUserAgent('  '), null);
  assert.equal(describeAgent(parseUserAgent(UAS[0][0])), 'Chrome 120 on Windows 10/11 (desktop)');
  assert.equal(describeAgent(parseUserAgent('curl/8.5.0')), 'Unrecognised browser');
  assert.equal(describeAgent(null), 'Unknown browser');
});

test('times and names are formatted for people', () => {
  const now = Date.parse('2026-12-01T12:00:00Z');
  assert.equal(ago('2026-12-01T11:59:40Z', now), 'now');
  assert.equal(ago('2026-12-01T11:55:00Z', now), '5m');
  assert.equal(ago('2026-12-01T09:00:00Z', now), '3h');
  assert.equal(ago('2026-11-29T12:00:00Z', now), '2d');
  assert.equal(waited('2026-12-01T11:59:18Z', now), '0:42');
  assert.equal(waited('2026-12-01T10:57:57Z', now), '1:02:03');
  assert.equal(initials('  ana   maria lima '), 'AL');
  assert.equal(initials('Émile'), 'É');
  assert.equal(initials(''), '?');
  assert.equal(visitorName({ visitor: { id: 4, name: null, email: null } }), 'Visitor #4');
  assert.equal(visitorName({ visitor: { id: 4, name: null, email: 'a@b.c' } }), 'a@b.c');
});

test('macro placeholders are filled and unknown ones left alone', () => {
  const facts = { visitor: { name: 'Ana Lima', email: 'ana@example.com' }, agent: 'Bruno' };
  assert.equal(fillMacro('Hi {{first_name}}, I am {{ agent }}. {{email}} {{x}}', facts),
    'Hi Ana, I am Bruno. ana@example.com {{x}}');
  assert.equal(fillMacro('Hi {{name}}!', { visitor: { name: null } }), 'Hi there!');
});

test('server times compare in time order whatever their fractional digits', async () => {
  // live.js touches the DOM only when used, so its pure helper imports fine.
  globalThis.document ??= { addEventListener() {}, visibilityState: 'visible' };
  globalThis.sessionStorage ??= { getItem: () => null, setItem() {}, removeItem() {} };
  const { sortable } = await import('../../web/app/js/live.js');
  const times = ['2026-12-01T08:03:09Z', '2026-12-01T08:03:09.1Z', '2026-12-01T08:03:09.05Z',
    '2026-12-01T08:03:09.123456Z', '2026-12-01T08:03:10Z'];
  const sorted = [...times].sort((a, b) => (sortable(a) < sortable(b) ? -1 : 1));
  assert.deepEqual(sorted, ['2026-12-01T08:03:09Z', '2026-12-01T08:03:09.05Z', '2026-12-01T08:03:09.1Z',
    '2026-12-01T08:03:09.123456Z', '2026-12-01T08:03:10Z']);
});
