// Boots the staff app: the login screen without a session, the shell with
// one; a session ending anywhere (logout, refused refresh, the server
// closing it) goes back to the login screen.

import * as session from './session.js';
import * as live from './live.js';
import './ui/toasts.js';
import './views/login.js';
import './views/shell.js';
import './views/inbox.js';
import './views/supervisor.js';
import './views/admin/index.js';
import './views/admin/macros.js';
import { h } from './dom.js';

const root = document.getElementById('app');
let running = false;

async function showApp() {
  if (running) return;
  running = true;
  try {
    await live.start();
  } catch (e) {
    running = false;
    live.stop();
    if (session.current()) {
      root.replaceChildren(h('main', { class: 'login' }, h('div', { class: 'login-card' },
        h('h1', {}, 'Switchboard is not reachable'), h('p', {}, e.message),
        h('button', { class: 'btn btn-primary', onClick: () => location.reload() }, 'Try again'))));
      return;
    }
    showLogin();
    return;
  }
  root.replaceChildren(document.createElement('sb-shell'), document.createElement('sb-toasts'));
}

function showLogin() {
  root.replaceChildren(document.createElement('sb-login'));
}

session.onChange((s) => {
  if (!s && running) {
    running = false;
    live.stop();
    showLogin();
  }
});
root.addEventListener('login', () => showApp());

if (session.current()) showApp();
else showLogin();
