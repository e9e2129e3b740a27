// The dashboard's shell: a hash router (#/runs, #/backtests/<id>, ...), the navigation, the signed-in user.
import { api, apiKey, signOut } from './api.js';
import { fill, h } from './dom.js';
import { backtestView } from './views/backtest.js';
import { bundleView } from './views/bundle.js';
import { datasetsView } from './views/datasets.js';
import { opsView } from './views/ops.js';
import { runsView } from './views/runs.js';
import { signinView } from './views/signin.js';
import { submitView } from './views/submit.js';

const ROUTES = [
  [/^#\/signin$/, signinView],
  [/^#\/datasets$/, datasetsView],
  [/^#\/new(?:\?(.*))?$/, submitView],
  [/^#\/runs$/, runsView],
  [/^#\/backtests\/([0-9a-f-]{36})$/, backtestView],
  [/^#\/bundles\/([0-9a-f-]{36})$/, bundleView],
  [/^#\/ops$/, opsView],
];

const session = { me: null };
let leave = null; // the current view's AbortController: aborting it stops its streams and timers

async function whoAmI() {
  if (!apiKey()) return null;
  if (!session.me) session.me = await api('/api/v1/me').catch(() => null);
  return session.me;
}

function renderNav(me) {
  const links = me
    ? [['#/runs', 'Runs'], ['#/new', 'New backtest'], ['#/datasets', 'Datasets'], ...(me.role === 'admin' ? [['#/ops', 'Operator']] : [])]
    : [];
  fill(document.getElementById('nav'), links.map(([href, label]) =>
    h('a', { href, class: location.hash.startsWith(href) ? 'active' : '' }, label)));
  fill(document.getElementById('who'), me
    ? [h('span', { id: 'who-name' }, `${me.name} (${me.role})`), ' ',
       h('button', { class: 'link', id: 'signout', onclick: () => { signOut(); session.me = null; location.hash = '#/signin'; } }, 'Sign out')]
    : []);
}

async function route() {
  if (leave) leave.abort();
  leave = new AbortController();
  const main = document.getElementById('main');
  const me = await whoAmI();
  if (!me && location.hash !== '#/signin') {
    location.hash = '#/signin';
    return;
  }
  if (me && (location.hash === '' || location.hash === '#/' || location.hash === '#/signin')) {
    location.hash = '#/runs';
    return;
  }
  renderNav(me);
  for (const [pattern, view] of ROUTES) {
    const match = location.hash.match(pattern);
    if (match) {
      fill(main);
      try {
        await view(main, { params: match.slice(1), me, signal: leave.signal, session });
      } catch (error) {
        if (error.name !== 'AbortError') fill(main, h('p', { class: 'error' }, `Could not load this view: ${error.message}`));
      }
      return;
    }
  }
  fill(main, h('p', {}, 'No such page. '), h('a', { href: '#/runs' }, 'Back to runs'));
}

window.addEventListener('hashchange', route);
// Leaving a view aborts its requests on purpose: that is not an error.
window.addEventListener('unhandledrejection', (event) => {
  if (event.reason?.name === 'AbortError') event.preventDefault();
});
window.addEventListener('unauthorized', () => {
  session.me = null;
  if (location.hash !== '#/signin') {
    signOut();
    location.hash = '#/signin';
  }
});
window.addEventListener('signedin', () => { session.me = null; });
route();
