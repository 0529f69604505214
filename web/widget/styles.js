// The widget's stylesheet, scoped to its shadow root. The host element is
// the only part the page's CSS can reach; `:host` declarations marked
// !important win over the page's, even its !important ones (shadow styles
// take precedence for important declarations), so `* { all: unset;
// display: none !important }` on the page cannot hide or reshape it.
// Sizes are in px, never rem: rem follows the page's root font size.

/** The stylesheet text, put in a <style> inside the shadow root. */
export const CSS = `
:host {
  all: initial !important;
  display: block !important;
  position: fixed !important;
  inset: auto 20px 20px auto !important;
  z-index: 2147483647 !important;
  width: auto !important;
  height: auto !important;
  margin: 0 !important;
  padding: 0 !important;
  border: 0 !important;
  background: transparent !important;
  overflow: visible !important;
  opacity: 1 !important;
  visibility: visible !important;
  transform: none !important;
  filter: none !important;
  zoom: 1 !important;
  pointer-events: auto !important;
  contain: none !important;
  color-scheme: light !important;
}
:host([data-position="left"]) { inset: auto auto 20px 20px !important; }
:host([data-mode="inline"]) {
  position: relative !important;
  inset: auto !important;
  z-index: auto !important;
  width: 100% !important;
  height: 100% !important;
  min-height: 420px !important;
}
:host::backdrop { display: none !important; background: transparent !important; }

.sb {
  --sb-primary: #2563eb;
  --sb-on-primary: #fff;
  --sb-bg: #fff;
  --sb-fg: #1f2328;
  --sb-muted: #5b6470;
  --sb-line: #e3e6ea;
  --sb-them: #f1f3f5;
  --sb-danger: #b42318;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  color: var(--sb-fg);
  text-align: left;
  letter-spacing: normal;
  -webkit-font-smoothing: antialiased;
}
/* Resets at zero specificity (:where), so every class below wins over them. */
:where(.sb) :where(*, *::before, *::after) { box-sizing: border-box; }
.sb [hidden] { display: none !important; }
:where(.sb) :where(button, input, select, textarea) { font: inherit; color: inherit; }
:where(.sb) :where(button) { cursor: pointer; }
.sb :focus-visible { outline: 2px solid var(--sb-primary); outline-offset: 2px; }
.vh { position: absolute !important; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }

.icon { width: 20px; height: 20px; fill: none; stroke: currentColor; stroke-width: 2; stroke-linecap: round; stroke-linejoin: round; flex: none; }

.launcher {
  position: relative; display: grid; place-items: center; width: 56px; height: 56px; margin: 0 0 0 auto;
  border: 0; border-radius: 50%; background: var(--sb-primary); color: var(--sb-on-primary);
  box-shadow: 0 6px 20px rgba(0,0,0,.22); transition: transform .15s ease;
}
.sb[data-position="left"] .launcher { margin: 0 auto 0 0; }
.launcher:hover { transform: scale(1.05); }
.launcher .icon { width: 26px; height: 26px; }
.badge-count {
  position: absolute; top: -4px; right: -4px; min-width: 22px; height: 22px; padding: 0 6px;
  border-radius: 11px; background: var(--sb-danger); color: #fff; font-size: 12px; font-weight: 700;
  line-height: 22px; text-align: center; box-shadow: 0 0 0 2px #fff;
}
.sb[data-open] .launcher { display: none; }

.panel {
  display: flex; flex-direction: column; width: 370px; height: min(620px, calc(100vh - 40px));
  background: var(--sb-bg); border-radius: 16px; overflow: hidden;
  box-shadow: 0 12px 48px rgba(0,0,0,.25), 0 0 0 1px rgba(0,0,0,.06);
}
.sb[data-mode="inline"] { height: 100%; }
.sb[data-mode="inline"] .panel { width: 100%; height: 100%; min-height: 420px; box-shadow: 0 0 0 1px var(--sb-line); }

.head {
  display: flex; align-items: center; gap: 10px; padding: 14px 12px 14px 16px;
  background: var(--sb-primary); color: var(--sb-on-primary);
}
.logo { width: 32px; height: 32px; border-radius: 8px; object-fit: cover; background: rgba(255,255,255,.2); flex: none; }
.titles { flex: 1; min-width: 0; }
.title { margin: 0; font-size: 16px; font-weight: 650; line-height: 1.25; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.sub { margin: 2px 0 0; font-size: 12px; opacity: .9; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.icon-button {
  display: grid; place-items: center; width: 36px; height: 36px; padding: 0; border: 0; border-radius: 10px;
  background: transparent; color: inherit; flex: none;
}
.icon-button:hover:not(:disabled) { background: rgba(127,127,127,.16); }
.icon-button:disabled { opacity: .4; cursor: default; }

.menu {
  position: absolute; z-index: 3; top: 58px; right: 12px; min-width: 230px; padding: 6px; margin: 0;
  background: #fff; color: var(--sb-fg); border-radius: 12px; box-shadow: 0 8px 30px rgba(0,0,0,.2); list-style: none;
}
.menu button { display: block; width: 100%; padding: 9px 12px; border: 0; border-radius: 8px; background: none; text-align: left; }
.menu button:hover, .menu button:focus-visible { background: var(--sb-them); }
.panel-wrap { position: relative; display: flex; flex-direction: column; flex: 1; min-height: 0; }
.confirm { display: flex; align-items: center; gap: 8px; padding: 10px 14px; background: #fff7e6; border-bottom: 1px solid #f3d9a4; }
.confirm p { flex: 1; margin: 0; }
.banner { padding: 6px 14px; background: #fff4ce; color: #5c4400; font-size: 12px; border-bottom: 1px solid #f0dc9a; }

.body { display: flex; flex-direction: column; flex: 1; min-height: 0; }
.center { margin: auto; padding: 24px; text-align: center; color: var(--sb-muted); }

.chat { display: flex; flex-direction: column; flex: 1; min-height: 0; }
.log { flex: 1; min-height: 0; margin: 0; padding: 14px 14px 6px; overflow-y: auto; list-style: none; overscroll-behavior: contain; }
.msg { display: flex; flex-direction: column; max-width: 82%; margin: 0 0 8px; }
.msg.me { margin-left: auto; align-items: flex-end; }
.msg.system { max-width: 100%; align-items: center; }
.note { color: var(--sb-muted); font-size: 12px; text-align: center; padding: 2px 8px; }
.who { display: flex; align-items: center; gap: 6px; margin: 0 0 2px 4px; font-size: 12px; font-weight: 600; color: var(--sb-muted); }
.badge { padding: 0 6px; border-radius: 6px; background: #e8e3ff; color: #4b3aa8; font-size: 10px; font-weight: 700; text-transform: uppercase; letter-spacing: .03em; }
.bubble { padding: 8px 12px; border-radius: 16px; background: var(--sb-them); overflow-wrap: anywhere; white-space: normal; }
.msg.me .bubble { background: var(--sb-primary); color: var(--sb-on-primary); border-bottom-right-radius: 4px; }
.msg.them .bubble { border-bottom-left-radius: 4px; }
.msg.failed .bubble { opacity: .7; }
.bubble p { margin: 0; }
.bubble p + p, .bubble p + ul, .bubble p + ol, .bubble ul + p, .bubble ol + p, .bubble pre { margin-top: 6px; }
.bubble ul, .bubble ol { margin: 0; padding-left: 20px; }
.bubble code { font: 12.5px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: rgba(127,127,127,.16); padding: 1px 4px; border-radius: 4px; }
.bubble pre { margin: 0; padding: 8px; border-radius: 8px; background: rgba(127,127,127,.14); overflow-x: auto; }
.bubble pre code { background: none; padding: 0; white-space: pre; }
.bubble a { color: inherit; text-decoration: underline; }
.meta { display: flex; align-items: center; gap: 4px; margin: 2px 6px 0; font-size: 11px; color: var(--sb-muted); }
.meta .icon { width: 15px; height: 15px; }
.status[data-status="read"] { color: var(--sb-primary); }
.retry { display: inline-flex; align-items: center; gap: 4px; padding: 0; border: 0; background: none; color: var(--sb-danger); font-size: 12px; font-weight: 600; }
.retry .icon { width: 15px; height: 15px; }

.typing { display: flex; align-items: center; gap: 8px; padding: 0 16px 6px; font-size: 12px; color: var(--sb-muted); }
.dots { display: inline-flex; gap: 3px; }
.dots i { width: 6px; height: 6px; border-radius: 50%; background: var(--sb-muted); animation: sb-blink 1.2s infinite ease-in-out; }
.dots i:nth-child(2) { animation-delay: .15s; }
.dots i:nth-child(3) { animation-delay: .3s; }
@keyframes sb-blink { 0%, 80%, 100% { opacity: .25; } 40% { opacity: 1; } }
@media (prefers-reduced-motion: reduce) { .dots i { animation: none; } .launcher { transition: none; } }

.composer { position: relative; display: flex; align-items: flex-end; gap: 4px; padding: 8px 8px 10px; border-top: 1px solid var(--sb-line); }
.input {
  flex: 1; min-height: 38px; max-height: 120px; padding: 8px 10px; border: 1px solid var(--sb-line); border-radius: 12px;
  background: #fff; resize: none; line-height: 20px; outline: none;
}
.input:focus { border-color: var(--sb-primary); }
.composer .icon-button { color: var(--sb-muted); }
.composer .send { color: var(--sb-primary); }
.emoji-picker {
  position: absolute; bottom: calc(100% + 4px); left: 8px; z-index: 2; padding: 8px;
  background: #fff; border-radius: 12px; box-shadow: 0 8px 30px rgba(0,0,0,.2);
}
.emoji-grid { display: flex; flex-direction: column; gap: 2px; max-height: 220px; overflow-y: auto; }
.emoji-grid [role="row"] { display: flex; gap: 2px; }
.emoji { width: 36px; height: 36px; padding: 0; border: 0; border-radius: 8px; background: none; font-size: 20px; line-height: 36px; }
.emoji:hover, .emoji:focus-visible { background: var(--sb-them); }

.ended { max-height: 65%; overflow-y: auto; padding: 12px 16px 16px; border-top: 1px solid var(--sb-line); }
.ended .form { padding: 0; margin: 0 0 12px; }
.ended-title { margin: 0 0 8px; font-weight: 600; }
.thanks { margin: 0 0 10px; color: #146c2e; font-weight: 600; }
.actions { display: flex; flex-wrap: wrap; gap: 6px 12px; align-items: center; }

.form { display: flex; flex-direction: column; gap: 10px; padding: 16px; overflow-y: auto; }
.form .intro { margin: 0 0 4px; color: var(--sb-muted); }
.field { display: flex; flex-direction: column; gap: 4px; }
.field label { font-size: 13px; font-weight: 600; }
.field input, .field select, .field textarea {
  width: 100%; padding: 8px 10px; border: 1px solid #c9ced4; border-radius: 10px; background: #fff; outline: none;
}
.field textarea { resize: vertical; }
.field input:focus, .field select:focus, .field textarea:focus { border-color: var(--sb-primary); }
.field [aria-invalid="true"] { border-color: var(--sb-danger); }
.field-error, .form-error { margin: 0; color: var(--sb-danger); font-size: 12px; }
.form-error { font-size: 13px; }
.primary, .secondary {
  padding: 10px 14px; border-radius: 10px; font-weight: 600;
}
.primary { border: 0; background: var(--sb-primary); color: var(--sb-on-primary); }
.primary:disabled { opacity: .6; cursor: progress; }
.secondary { border: 1px solid var(--sb-line); background: #fff; }
.link { padding: 0; border: 0; background: none; color: var(--sb-primary); text-decoration: underline; font-size: 13px; }
.rating fieldset { margin: 0; padding: 0; border: 0; }
.rating legend { padding: 0; margin: 0 0 6px; font-weight: 600; }
.stars { display: flex; gap: 4px; }
.star { position: relative; display: grid; place-items: center; width: 40px; height: 40px; border-radius: 10px; cursor: pointer; font-size: 26px; color: #c9ced4; }
.star input { position: absolute; inset: 0; margin: 0; opacity: 0; cursor: pointer; }
.star:has(input:focus-visible) { outline: 2px solid var(--sb-primary); }
.stars:has(input:checked) .star { color: #f5a524; }
.stars .star:has(input:checked) ~ .star { color: #c9ced4; }
.powered { padding: 4px 0 8px; text-align: center; font-size: 11px; color: var(--sb-muted); }

@media (max-width: 575.98px) {
  :host(:not([data-mode="inline"])[data-open]) { inset: 0 !important; }
  .sb[data-mode="launcher"][data-open] .panel { width: 100vw; height: 100vh; height: 100dvh; border-radius: 0; }
  .sb[data-mode="launcher"] .menu { top: 56px; }
}
`;
