// Runs: your backtests and sweeps, kept live by the API's server-sent events.
//
// The API streams one backtest's or one sweep's progress. Each unfinished single backtest gets its own
// stream, a sweep's backtests share their sweep's stream, at most MAX_STREAMS at once (a browser allows
// six connections per host over HTTP/1.1); a slow refresh of the list picks up runs started elsewhere.
import { api, follow } from '../api.js';
import { fill, fmtTime, h, progressBar, shortId, statusBadge } from '../dom.js';

const FINAL = new Set(['succeeded', 'failed', 'cancelled']);
const MAX_STREAMS = 4;
const RELIST_MS = 10000;

export async function runsView(root, { signal }) {
  const live = h('span', { id: 'live', class: 'muted small' });
  const runsBox = h('div', { id: 'runs' });
  const bundlesBox = h('div', { id: 'bundles' });
  root.append(
    h('div', { class: 'row spread' }, h('h1', {}, 'Runs'), live, h('a', { class: 'button primary', href: '#/new' }, 'New backtest')),
    h('h2', {}, 'Backtests'), runsBox, h('h2', {}, 'Sweeps'), bundlesBox);

  let runs = [];
  const streams = new Map(); // path -> AbortController
  let relisting = null;

  const relist = async () => {
    const [page, bundles] = await Promise.all([
      api('/api/v1/backtests?limit=50', { signal }),
      api('/api/v1/bundles?limit=20', { signal }),
    ]);
    runs = page.items;
    render();
    renderBundles(bundles.items);
    subscribe();
  };
  const relistSoon = () => {
    if (!relisting) relisting = new Promise((r) => setTimeout(r, 300)).then(relist).catch(() => {}).finally(() => { relisting = null; });
  };

  function subscribe() {
    const wanted = [];
    for (const run of runs) {
      if (FINAL.has(run.status)) continue;
      const path = run.bundle_id ? `/api/v1/bundles/${run.bundle_id}/events` : `/api/v1/backtests/${run.id}/events`;
      if (!wanted.includes(path)) wanted.push(path);
    }
    const keep = new Set(wanted.slice(0, MAX_STREAMS));
    for (const [path, controller] of streams) if (!keep.has(path)) { controller.abort(); streams.delete(path); }
    for (const path of keep) {
      if (streams.has(path)) continue;
      const controller = new AbortController();
      signal.addEventListener('abort', () => controller.abort());
      streams.set(path, controller);
      const single = path.startsWith('/api/v1/backtests/');
      follow(path, (event) => {
        if (!single) return relistSoon();
        const run = runs.find((r) => r.id === event.id);
        if (run) Object.assign(run, { status: event.status, progress: event.progress });
        render();
      }, controller.signal).then(() => { streams.delete(path); if (!signal.aborted) relistSoon(); });
    }
    live.textContent = streams.size ? `● live: ${streams.size} stream${streams.size > 1 ? 's' : ''}` : '';
  }

  async function cancel(run) {
    await api(`/api/v1/backtests/${run.id}/cancel`, { method: 'POST' });
    relistSoon();
  }

  function render() {
    fill(runsBox, runs.length ? h('table', { class: 'grid', id: 'runs-table' },
      h('thead', {}, h('tr', {}, ['Backtest', 'Status', 'Progress', 'Sweep', 'Created', 'Finished', ''].map((t) => h('th', {}, t)))),
      h('tbody', {}, runs.map((run) => h('tr', { 'data-id': run.id, 'data-status': run.status },
        h('td', {}, h('a', { class: 'mono', href: `#/backtests/${run.id}` }, shortId(run.id))),
        h('td', {}, statusBadge(run.status)),
        h('td', {}, progressBar(run.progress)),
        h('td', {}, run.bundle_id ? h('a', { class: 'mono', href: `#/bundles/${run.bundle_id}` }, shortId(run.bundle_id)) : ''),
        h('td', {}, fmtTime(run.created_at)), h('td', {}, fmtTime(run.finished_at)),
        h('td', {}, FINAL.has(run.status) ? '' : h('button', { class: 'danger small cancel', onclick: () => cancel(run) }, 'Cancel'))))))
      : h('p', { class: 'muted' }, 'No backtests yet. ', h('a', { href: '#/new' }, 'Submit one.')));
  }

  function renderBundles(items) {
    fill(bundlesBox, items.length ? h('table', { class: 'grid', id: 'bundles-table' },
      h('thead', {}, h('tr', {}, ['Sweep', 'Name', 'Backtests', 'Ranked by', 'Created'].map((t) => h('th', {}, t)))),
      h('tbody', {}, items.map((b) => h('tr', { 'data-id': b.id },
        h('td', {}, h('a', { class: 'mono', href: `#/bundles/${b.id}` }, shortId(b.id))), h('td', {}, b.name || ''),
        h('td', { class: 'num' }, b.total_jobs), h('td', {}, b.rank_by), h('td', {}, fmtTime(b.created_at))))))
      : h('p', { class: 'muted' }, 'No sweeps yet.'));
  }

  await relist();
  const timer = setInterval(relistSoon, RELIST_MS);
  signal.addEventListener('abort', () => clearInterval(timer));
}
