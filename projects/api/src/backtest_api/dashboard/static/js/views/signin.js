// Sign in with an API key: checked against /api/v1/me, kept in sessionStorage (or localStorage).
import { api, setApiKey, signOut } from '../api.js';
import { h } from '../dom.js';

export async function signinView(root) {
  const key = h('input', { id: 'api-key', type: 'password', placeholder: 'bt_…', autocomplete: 'off', required: true, size: 52 });
  const remember = h('input', { id: 'remember', type: 'checkbox' });
  const message = h('p', { class: 'error', id: 'signin-error' });
  const form = h('form', { class: 'card narrow', id: 'signin-form' },
    h('h1', {}, 'Sign in'),
    h('p', { class: 'muted' }, 'Paste an API key (from `api.pex issue-key NAME`, or the demo key the local platform prints).'),
    h('label', {}, 'API key', key),
    h('label', { class: 'inline' }, remember, ' Remember on this browser'),
    h('button', { type: 'submit', class: 'primary' }, 'Sign in'),
    message);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    message.textContent = '';
    setApiKey(key.value.trim(), remember.checked);
    try {
      await api('/api/v1/me');
      window.dispatchEvent(new Event('signedin'));
      location.hash = '#/runs';
    } catch (error) {
      signOut();
      message.textContent = error.status === 401 ? 'That key was not accepted.' : error.message;
    }
  });
  root.append(form);
  key.focus();
}
