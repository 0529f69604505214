// Reads browser, operating system and device type from a User-Agent
// string. Small on purpose: it knows the browsers and systems support
// agents meet, and says "Unknown" for the rest rather than guessing.

/**
 * @typedef {{browser: string, browserVersion: string, os: string,
 *   osVersion: string, device: 'desktop'|'mobile'|'tablet'|'bot'|'unknown'}} ParsedAgent
 */

/** Browsers in the order they must be tested: many claim to be others. */
const BROWSERS = [
  ['Edge', /\bEdg(?:e|A|iOS)?\/([\d.]+)/],
  ['Opera', /\b(?:OPR|OPiOS)\/([\d.]+)/],
  ['Samsung Internet', /\bSamsungBrowser\/([\d.]+)/],
  ['Firefox', /\b(?:Firefox|FxiOS)\/([\d.]+)/],
  ['Headless Chrome', /\bHeadlessChrome\/([\d.]+)/],
  ['Chrome', /\b(?:Chrome|CriOS)\/([\d.]+)/],
  ['Safari', /\bVersion\/([\d.]+).*\bSafari\//],
  ['Internet Explorer', /\bTrident\/.*\brv:([\d.]+)|\bMSIE ([\d.]+)/],
];

/** Windows NT versions as people name them. */
const WINDOWS = { '10.0': '10/11', '6.3': '8.1', '6.2': '8', '6.1': '7', '6.0': 'Vista', '5.1': 'XP' };

function major(version) {
  return version ? version.split('.')[0] : '';
}

function operatingSystem(ua) {
  let m;
  if ((m = /\b(?:iPhone|CPU) OS (\d+(?:_\d+)*)/.exec(ua)) && /iPhone|iPad|iPod/.test(ua)) {
    return { os: /iPad/.test(ua) ? 'iPadOS' : 'iOS', osVersion: m[1].replace(/_/g, '.') };
  }
  if ((m = /\bAndroid (\d+(?:\.\d+)*)/.exec(ua))) return { os: 'Android', osVersion: m[1] };
  if (/\bAndroid\b/.test(ua)) return { os: 'Android', osVersion: '' };
  if ((m = /\bWindows NT (\d+\.\d+)/.exec(ua))) {
    return { os: 'Windows', osVersion: WINDOWS[m[1]] ?? m[1] };
  }
  if ((m = /\bMac OS X (\d+(?:[_.]\d+)*)/.exec(ua))) {
    return { os: 'macOS', osVersion: m[1].replace(/_/g, '.') };
  }
  if (/\bCrOS\b/.test(ua)) return { os: 'ChromeOS', osVersion: '' };
  if (/\bLinux\b/.test(ua)) return { os: 'Linux', osVersion: '' };
  return { os: 'Unknown', osVersion: '' };
}

function deviceType(ua) {
  if (/bot\b|crawl|spider|slurp/i.test(ua)) return 'bot';
  if (/\biPad\b|\bTablet\b|\bKindle\b|\bSilk\//.test(ua)) return 'tablet';
  if (/\bAndroid\b/.test(ua) && !/\bMobile\b/.test(ua)) return 'tablet';
  if (/\bMobi|\biPhone\b|\biPod\b|\bAndroid\b/.test(ua)) return 'mobile';
  if (/\bWindows NT|\bMacintosh\b|\bX11\b|\bCrOS\b|\bLinux\b/.test(ua)) return 'desktop';
  return 'unknown';
}

/**
 * Parses a User-Agent header.
 * @param {string | null | undefined} ua
 * @returns {ParsedAgent | null} null for an absent or blank string
 */
export function parseUserAgent(ua) {
  if (!ua || !ua.trim()) return null;
  let browser = 'Unknown';
  let browserVersion = '';
  for (const [name, re] of BROWSERS) {
    const m = re.exec(ua);
    if (m) {
      browser = name;
      browserVersion = major(m[1] ?? m[2]);
      break;
    }
  }
  return { browser, browserVersion, ...operatingSystem(ua), device: deviceType(ua) };
}

/**
 * One line for people: "Chrome 120 on Windows 10/11 (desktop)".
 * @param {ParsedAgent | null} p
 */
export function describeAgent(p) {
  if (!p) return 'Unknown browser';
  if (p.browser === 'Unknown' && p.os === 'Unknown') return 'Unrecognised browser';
  const browser = [p.browser, p.browserVersion].filter(Boolean).join(' ');
  const os = [p.os, p.osVersion].filter(Boolean).join(' ');
  return `${browser} on ${os}${p.device === 'unknown' ? '' : ` (${p.device})`}`;
}
