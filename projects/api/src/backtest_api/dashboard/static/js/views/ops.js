// Operator view (admins): the worker registry and the queue, refreshed every two seconds.
import { api } from '../api.js';
import { fill, fmtNumber, fmtTime, h } from '../dom.js';

const REFRESH_MS = 2000;

function ago(value) {
  const seconds = (Date.now() - new Date(value).getTime()) / 1000;
  return seconds < 120 ? `${seconds.toFixed(0)} s ago` : fmtTime(value);
}

export async function opsView(root, { me, signal }) {
  if (me.role !== 'admin') {
    root.append(h('p', {}, 'The operator view is for admins.'));
    return;
  }
  const queueBox = h('div', { id: 'queue' });
  const workersBox = h('div', { id: 'workers' });
  root.append(h('h1', {}, 'Operator'), h('h2', {}, 'Queue'), queueBox, h('h2', {}, 'Workers'), workersBox);

  const refresh = async () => {
    const [stats, workers] = await Promise.all([api('/api/v1/queue/stats', { signal }), api('/api/v1/workers', { signal })]);
    fill(queueBox,
      h('dl', { class: 'metrics' },
        [['pending', stats.by_status.pending ?? 0], ['running', stats.by_status.running ?? 0],
         ['oldest pending', stats.oldest_pending_seconds === null ? '—' : `${fmtNumber(stats.oldest_pending_seconds, 1)} s`],
         ['finished last minute', stats.finished_last_minute], ['jobs per second', fmtNumber(stats.throughput_per_second)],
         ...Object.entries(stats.finished_last_minute_by_status).map(([s, n]) => [`${s} last minute`, n])]
          .map(([k, v]) => h('div', { 'data-stat': k }, h('dt', {}, k), h('dd', {}, typeof v === 'number' ? fmtNumber(v) : v)))),
      stats.depth.length ? h('table', { class: 'grid small' },
        h('thead', {}, h('tr', {}, ['Status', 'Priority', 'Jobs'].map((t) => h('th', {}, t)))),
        h('tbody', {}, stats.depth.map((d) => h('tr', {}, h('td', {}, d.status), h('td', { class: 'num' }, d.priority), h('td', { class: 'num' }, fmtNumber(d.jobs)))))) : null);
    fill(workersBox, workers.items.length ? h('table', { class: 'grid', id: 'workers-table' },
      h('thead', {}, h('tr', {}, ['Name', 'State', 'Host', 'PID', 'Slots', 'Running', 'Heartbeat', 'Started', 'Version'].map((t) => h('th', {}, t)))),
      h('tbody', {}, workers.items.map((w) => h('tr', { 'data-state': w.state },
        h('td', {}, w.name), h('td', {}, h('span', { class: `badge worker-${w.state}` }, w.state)), h('td', {}, w.host),
        h('td', { class: 'num' }, w.pid), h('td', { class: 'num' }, w.slots), h('td', { class: 'num' }, w.running_jobs),
        h('td', {}, ago(w.heartbeat_at)), h('td', {}, fmtTime(w.started_at)), h('td', {}, w.version)))))
      : h('p', { class: 'muted' }, 'No worker has registered.'));
  };
  await refresh();
  const timer = setInterval(() => refresh().catch(() => {}), REFRESH_MS);
  signal.addEventListener('abort', () => clearInterval(timer));
}
