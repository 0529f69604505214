// The login screen.

import { h } from '../dom.js';
import * as session from '../session.js';

/** `<sb-login>`: e-mail and password; dispatches `login` on success. */
export class Login extends HTMLElement {
  connectedCallback() {
    const error = h('p', { class: 'form-error', role: 'alert', hidden: true });
    const email = h('input', { type: 'email', name: 'email', autocomplete: 'username', required: true, id: 'login-email' });
    const password = h('input', { type: 'password', name: 'password', autocomplete: 'current-password', required: true, id: 'login-password' });
    const button = h('button', { type: 'submit', class: 'btn btn-primary btn-block' }, 'Log in');
    const form = h('form', { class: 'login-card', 'aria-labelledby': 'login-title' },
      h('div', { class: 'brand brand-large' }, h('span', { class: 'brand-mark', 'aria-hidden': 'true' }, 'S'), 'Switchboard'),
      h('h1', { id: 'login-title' }, 'Log in to your workspace'),
      h('label', { class: 'field' }, h('span', { class: 'field-label' }, 'E-mail'), email),
      h('label', { class: 'field' }, h('span', { class: 'field-label' }, 'Password'), password),
      error,
      button);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      button.disabled = true;
      error.hidden = true;
      try {
        await session.login(email.value.trim(), password.value);
        this.dispatchEvent(new CustomEvent('login', { bubbles: true }));
      } catch (e) {
        error.textContent = e.status === 401 ? 'Wrong e-mail or password.'
          : e.status === 429 ? 'Too many attempts; wait a moment and try again.'
            : 'Could not log in; is the server reachable?';
        error.hidden = false;
        password.select();
      } finally {
        button.disabled = false;
      }
    });
    this.replaceChildren(h('main', { class: 'login' }, form));
    email.focus();
  }
}

customElements.define('sb-login', Login);
