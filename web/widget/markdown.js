// A small, safe Markdown subset for chat bubbles, rendered straight to DOM
// nodes (never through innerHTML):
//   **bold** / __bold__, *italic* / _italic_, `code`, ```code blocks```,
//   [text](url) and bare http(s):// links, "- " / "* " and "1. " lists.
// Links open in a new tab with rel="noopener noreferrer nofollow", and only
// http:, https: and mailto: URLs become links; anything else stays text.

const LINK_PROTOCOLS = new Set(['http:', 'https:', 'mailto:']);
const BULLET = /^\s*[-*+]\s+(.*)$/;
const NUMBERED = /^\s*\d{1,9}[.)]\s+(.*)$/;
const FENCE = /^\s*```/;

/**
 * The URL if it may become a link, else null.
 * @param {string} raw
 * @returns {string|null}
 */
export function safeHref(raw) {
  let url;
  try {
    url = new URL(raw.trim());
  } catch {
    return null;
  }
  return LINK_PROTOCOLS.has(url.protocol) ? url.href : null;
}

function link(href, children) {
  const a = document.createElement('a');
  a.href = href;
  a.target = '_blank';
  a.rel = 'noopener noreferrer nofollow';
  a.append(...children);
  return a;
}

/** A bare URL ends before trailing punctuation, and before an unbalanced ")". */
function trimUrl(url) {
  let end = url.length;
  while (end > 0 && '.,;:!?\'"'.includes(url[end - 1])) end -= 1;
  let out = url.slice(0, end);
  while (out.endsWith(')') && (out.match(/\(/g) || []).length < (out.match(/\)/g) || []).length) {
    out = out.slice(0, -1);
  }
  return out;
}

/** Whether `_` at `i` may open or close emphasis (not inside snake_case). */
function wordBoundary(text, i, opening) {
  const neighbour = opening ? text[i - 1] : text[i + 1];
  return neighbour === undefined || !/[\p{L}\p{N}]/u.test(neighbour);
}

/**
 * Inline formatting of one line of text.
 * @param {string} text
 * @returns {Node[]}
 */
export function inline(text) {
  const out = [];
  let plain = '';
  const flush = () => {
    if (plain) out.push(document.createTextNode(plain));
    plain = '';
  };
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    const rest = text.slice(i);
    if (c === '\\' && i + 1 < text.length && '\\`*_[]()'.includes(text[i + 1])) {
      plain += text[i + 1];
      i += 2;
      continue;
    }
    if (c === '`') {
      const end = text.indexOf('`', i + 1);
      if (end > i + 1) {
        flush();
        const code = document.createElement('code');
        code.textContent = text.slice(i + 1, end);
        out.push(code);
        i = end + 1;
        continue;
      }
    }
    if (c === '[') {
      const m = /^\[([^\]\n]+)\]\(([^)\s]+)\)/.exec(rest);
      const href = m && safeHref(m[2]);
      if (href) {
        flush();
        out.push(link(href, inline(m[1])));
        i += m[0].length;
        continue;
      }
    }
    if ((c === 'h' || c === 'H' || c === 'm') && (i === 0 || !/[\p{L}\p{N}]/u.test(text[i - 1]))) {
      const m = /^(?:https?:\/\/|mailto:)[^\s<>"]+/i.exec(rest);
      const url = m && trimUrl(m[0]);
      const href = url && safeHref(url);
      if (href && url.length > url.indexOf(':') + 3) {
        flush();
        out.push(link(href, [document.createTextNode(url)]));
        i += url.length;
        continue;
      }
    }
    if (c === '*' || c === '_') {
      const strong = text[i + 1] === c;
      const delim = strong ? c + c : c;
      const inner = i + delim.length;
      const canOpen = text[inner] && text[inner] !== ' ' && (c === '*' || wordBoundary(text, i, true));
      if (canOpen) {
        let end = text.indexOf(delim, inner + 1);
        while (end !== -1 && (text[end - 1] === ' ' || (c === '_' && !wordBoundary(text, end + delim.length - 1, false)))) {
          end = text.indexOf(delim, end + 1);
        }
        if (!strong) {
          // "*a **b** c*": skip a closing that is really the start of "**".
          while (end !== -1 && text[end + 1] === c) end = text.indexOf(delim, end + 2);
        }
        if (end > inner) {
          flush();
          const el = document.createElement(strong ? 'strong' : 'em');
          el.append(...inline(text.slice(inner, end)));
          out.push(el);
          i = end + delim.length;
          continue;
        }
      }
    }
    plain += c;
    i += 1;
  }
  flush();
  return out;
}

/**
 * Renders a message text as a fragment of paragraphs, lists and code blocks.
 * @param {string} text
 * @returns {DocumentFragment}
 */
export function renderMarkdown(text) {
  const frag = document.createDocumentFragment();
  const lines = String(text).replace(/\r\n?/g, '\n').split('\n');
  let paragraph = null;
  let list = null;
  const endBlocks = () => {
    paragraph = null;
    list = null;
  };
  for (let n = 0; n < lines.length; n += 1) {
    const line = lines[n];
    if (FENCE.test(line)) {
      const body = [];
      let close = n + 1;
      while (close < lines.length && !FENCE.test(lines[close])) body.push(lines[close++]);
      if (close < lines.length) {
        endBlocks();
        const pre = document.createElement('pre');
        const code = document.createElement('code');
        code.textContent = body.join('\n');
        pre.append(code);
        frag.append(pre);
        n = close;
        continue;
      }
    }
    const bullet = BULLET.exec(line);
    const numbered = !bullet && NUMBERED.exec(line);
    if (bullet || numbered) {
      const tag = bullet ? 'UL' : 'OL';
      if (!list || list.tagName !== tag) {
        paragraph = null;
        list = document.createElement(tag.toLowerCase());
        frag.append(list);
      }
      const li = document.createElement('li');
      li.append(...inline((bullet || numbered)[1]));
      list.append(li);
      continue;
    }
    if (!line.trim()) {
      endBlocks();
      continue;
    }
    list = null;
    if (paragraph) {
      paragraph.append(document.createElement('br'));
    } else {
      paragraph = document.createElement('p');
      frag.append(paragraph);
    }
    paragraph.append(...inline(line));
  }
  return frag;
}
