// Runs: your sweeps and single backtests, kept live by the API's server-sent events.
//
// The API streams one backtest's or one sweep's progress. Each unfinished sweep and single backtest
// shown gets its own stream, at most MAX_STREAMS at once (a browser allows six connections per host
// over HTTP/1.1); a slow refresh of the lists picks up runs started elsewhere. A sweep's backtests
// are shown on its own page, so a 10,000-job sweep does not bury the single backtests here.
import { api, follow } from '../api.js';
import { fill, fmtTime, h, progressBar, shortId, statusBadge } from '../dom.js';

const FINAL = new Set(['succeeded', 'failed', 'cancelled']);
const MAX_STREAMS = 4;
const RELIST_MS = 10000;
const SWEEPS_SHOWN = 10;
const SINGLES_SHOWN = 50;
const SCAN_PAGES = 4;

/**
 * The newest single backtests (not part of a sweep). The listing has no such filter, so pages are
 * read until SINGLES_SHOWN are found or SCAN_PAGES pages of sweep members were skipped.
 */
async function recentSingles(signal) {
  const found = [];
  let cursor = null;
  for (let page = 0; page < SCAN_PAGES && found.length < SINGLES_SHOWN; page++) {
    const answer = await api(`/api/v1/backtests?limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, { signal });
    found.push(...answer.items.filter((run) => !run.bundle_id));
    cursor = answer.next_cursor;
    if (!cursor) break;
  }
  return found.slice(0, SINGLES_SHOWN);
}

export async function runsView(root, { signal }) {
  const live = h('span', { id: 'live', class: 'muted small' });
  const runsBox = h('div', { id: 'runs' });
  const bundlesBox = h('div', { id: 'bundles' });
  root.append(
    h('div', { class: 'row spread' }, h('h1', {}, 'Runs'), live, h('a', { class: 'button primary', href: '#/new' }, 'New backtest')),
    h('h2', {}, 'Sweeps'), bundlesBox, h('h2', {}, 'Backtests'), runsBox);

  let runs = [];
  let sweeps = [];
  const streams = new Map(); // path -> AbortController
  let relisting = null;

  const relist = async () => {
    const [singles, bundles] = await Promise.all([
      recentSingles(signal),
      api(`/api/v1/bundles?limit=${SWEEPS_SHOWN}`, { signal }),
    ]);
    runs = singles;
    sweeps = await Promise.all(bundles.items.map((b) => api(`/api/v1/bundles/${b.id}?top=0`, { signal })));
    render();
    subscribe();
  };
  const relistSoon = () => {
    if (!relisting) relisting = new Promise((r) => setTimeout(r, 300)).then(relist).catch(() => {}).finally(() => { relisting = null; });
  };

  function subscribe() {
    const wanted = [
      ...sweeps.filter((s) => !s.finished).map((s) => [`/api/v1/bundles/${s.id}/events`, s]),
      ...runs.filter((r) => !FINAL.has(r.status)).map((r) => [`/api/v1/backtests/${r.id}/events`, r]),
    ].slice(0, MAX_STREAMS);
    const keep = new Set(wanted.map(([path]) => path));
    for (const [path, controller] of streams) if (!keep.has(path)) { controller.abort(); streams.delete(path); }
    for (const [path, item] of wanted) {
      if (streams.has(path)) continue;
      const controller = new AbortController();
      signal.addEventListener('abort', () => controller.abort());
      streams.set(path, controller);
      follow(path, (event) => {
        Object.assign(item, { status: event.status, progress: event.progress });
        render();
      }, controller.signal).then(() => { streams.delete(path); if (!signal.aborted) relistSoon(); });
    }
    live.textContent = streams.size ? `● live: ${streams.size} stream${streams.size > 1 ? 's' : ''}` : '';
  }

  async function cancel(path) {
    await api(path, { method: 'POST' });
    relistSoon();
  }

  function render() {
    fill(bundlesBox, sweeps.length ? h('table', { class: 'grid', id: 'bundles-table' },
      h('thead', {}, h('tr', {}, ['Sweep', 'Name', 'Status', 'Progress', 'Backtests', 'Ranked by', 'Created', ''].map((t) => h('th', {}, t)))),
      h('tbody', {}, sweeps.map((s) => h('tr', { 'data-id': s.id, 'data-status': s.status },
        h('td', {}, h('a', { class: 'mono', href: `#/bundles/${s.id}` }, shortId(s.id))), h('td', {}, s.name || ''),
        h('td', {}, statusBadge(s.status)), h('td', {}, progressBar(s.progress)),
        h('td', { class: 'small' }, `${s.total_jobs}: `, Object.entries(s.counts).map(([k, n]) => `${n} ${k}`).join(', ')),
        h('td', {}, s.rank_by), h('td', {}, fmtTime(s.created_at)),
        h('td', {}, s.finished ? '' : h('button', { class: 'danger small cancel', onclick: () => cancel(`/api/v1/bundles/${s.id}/cancel`) }, 'Cancel'))))))
      : h('p', { class: 'muted' }, 'No sweeps yet.'));
    fill(runsBox, runs.length ? h('table', { class: 'grid', id: 'runs-table' },
      h('thead', {}, h('tr', {}, ['Backtest', 'Status', 'Progress', 'Created', 'Finished', ''].map((t) => h('th', {}, t)))),
      h('tbody', {}, runs.map((run) => h('tr', { 'data-id': run.id, 'data-status': run.status },
        h('td', {}, h('a', { class: 'mono', href: `#/backtests/${run.id}` }, shortId(run.id))),
        h('td', {}, statusBadge(run.status)),
        h('td', {}, progressBar(run.progress)),
        h('td', {}, fmtTime(run.created_at)), h('td', {}, fmtTime(run.finished_at)),
        h('td', {}, FINAL.has(run.status) ? '' : h('button', { class: 'danger small cancel', onclick: () => cancel(`/api/v1/backtests/${run.id}/cancel`) }, 'Cancel'))))))
      : h('p', { class: 'muted' }, 'No single backtests yet. ', h('a', { href: '#/new' }, 'Submit one.')));
  }

  await relist();
  const timer = setInterval(relistSoon, RELIST_MS);
  signal.addEventListener('abort', () => clearInterval(timer));
}
