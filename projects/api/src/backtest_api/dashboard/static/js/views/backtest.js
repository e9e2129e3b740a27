// One backtest: live status until final, then metrics, equity, drawdown, price with trades, downloads.
import { api, download, follow, saveBlob } from '../api.js';
import { drawdown, lineChart, priceChart } from '../charts.js';
import { errorText, fill, fmtNumber, fmtPct, fmtTime, h, progressBar, shortId, statusBadge } from '../dom.js';

const FINAL = new Set(['succeeded', 'failed', 'cancelled']);
const PERCENT_METRICS = new Set(['total_return', 'cagr', 'annual_volatility', 'max_drawdown', 'win_rate', 'exposure_pct']);

function metricsGrid(metrics) {
  return h('dl', { class: 'metrics', id: 'metrics' }, Object.entries(metrics).map(([name, value]) =>
    h('div', { 'data-metric': name }, h('dt', {}, name.replaceAll('_', ' ')),
      h('dd', {}, PERCENT_METRICS.has(name) && name !== 'exposure_pct' ? fmtPct(value) : fmtNumber(value)))));
}

function tradesTable(trades) {
  const shown = trades.slice(0, 200);
  return h('div', {},
    h('table', { class: 'grid small', id: 'trades' },
      h('thead', {}, h('tr', {}, ['Side', 'Entry', 'Entry price', 'Exit', 'Exit price', 'P&L', 'Return', 'Exit reason'].map((t) => h('th', {}, t)))),
      h('tbody', {}, shown.map((t) => h('tr', {},
        h('td', {}, t.side), h('td', {}, fmtTime(t.entry_time)), h('td', { class: 'num' }, fmtNumber(t.entry_price)),
        h('td', {}, fmtTime(t.exit_time)), h('td', { class: 'num' }, fmtNumber(t.exit_price)),
        h('td', { class: `num ${t.pnl >= 0 ? 'ok' : 'error'}` }, fmtNumber(t.pnl)),
        h('td', { class: 'num' }, `${fmtNumber(t.return_pct)} %`), h('td', {}, t.exit_reason))))),
    trades.length > shown.length ? h('p', { class: 'muted small' }, `First ${shown.length} of ${trades.length} trades; download the CSV for all.`) : null);
}

export async function backtestView(root, { params: [id], signal }) {
  const header = h('div', { class: 'detail-head' });
  const body = h('div', { id: 'backtest-body' });
  root.append(h('h1', {}, 'Backtest ', h('span', { class: 'mono', title: id }, shortId(id))), header, body);
  let job = await api(`/api/v1/backtests/${id}`, { signal });

  const renderHead = () => {
    const cancel = !FINAL.has(job.status)
      ? h('button', { id: 'cancel', class: 'danger', onclick: async () => { job = await api(`/api/v1/backtests/${id}/cancel`, { method: 'POST' }); renderHead(); } }, 'Cancel')
      : null;
    fill(header,
      h('div', { class: 'row' }, statusBadge(job.status), progressBar(job.progress), cancel),
      h('p', { class: 'muted small' },
        `Strategy ${job.config?.strategy?.name ?? ''} · created ${fmtTime(job.created_at)} · started ${fmtTime(job.started_at)} · finished ${fmtTime(job.finished_at)} · attempts ${job.attempts}/${job.max_attempts}`,
        job.bundle_id ? [' · sweep ', h('a', { href: `#/bundles/${job.bundle_id}` }, shortId(job.bundle_id))] : null,
        job.reused_from ? [' · reused from ', h('a', { href: `#/backtests/${job.reused_from}` }, shortId(job.reused_from))] : null),
      job.error ? h('p', { class: 'error' }, job.error) : null);
  };
  renderHead();

  if (!FINAL.has(job.status)) {
    await follow(`/api/v1/backtests/${id}/events`, (event) => {
      job = { ...job, status: event.status, progress: event.progress };
      renderHead();
    }, signal);
    if (signal.aborted) return;
    job = await api(`/api/v1/backtests/${id}`, { signal });
    renderHead();
  }
  if (job.status !== 'succeeded' || !job.result) return;

  const { metrics, equity_curve: curve, trades } = job.result;
  const xs = curve.map((p) => p[0]);
  const equity = curve.map((p) => p[1]);
  const equityEl = h('div', { class: 'chart', id: 'equity-chart' });
  const drawdownEl = h('div', { class: 'chart', id: 'drawdown-chart' });
  const priceEl = h('div', { class: 'chart', id: 'price-chart' }, h('p', { class: 'muted' }, 'Loading prices…'));
  const downloads = h('div', { class: 'row', id: 'downloads' },
    h('button', { onclick: () => download(`/api/v1/backtests/${id}/trades.csv`, `trades-${id}.csv`).catch((e) => alert(errorText(e))) }, 'Trades (CSV)'),
    h('button', { onclick: () => saveBlob(new Blob([curve.map((p) => p.join(',')).join('\n')], { type: 'text/csv' }), `equity-${id}.csv`) }, 'Equity curve (CSV)'),
    h('button', { onclick: () => saveBlob(new Blob([JSON.stringify(job, null, 2)], { type: 'application/json' }), `backtest-${id}.json`) }, 'Everything (JSON)'));
  fill(body, h('section', {}, h('h2', {}, 'Metrics'), metricsGrid(metrics)), downloads, equityEl, drawdownEl, priceEl,
    h('section', {}, h('h2', {}, 'Trades'), tradesTable(trades)));
  lineChart(equityEl, { title: 'Equity', xs, ys: equity, label: 'equity', signal });
  lineChart(drawdownEl, { title: 'Drawdown', xs, ys: drawdown(equity), label: 'drawdown', color: '#c53030', fill: 'rgba(197,48,48,0.15)', height: 180, signal, yFormat: (v) => `${(v * 100).toFixed(0)} %` });
  try {
    const prices = await api(`/api/v1/datasets/${job.dataset_id}/prices`, { signal });
    fill(priceEl);
    priceChart(priceEl, { xs: prices.timestamps, close: prices.close, trades, signal });
    priceEl.dataset.points = String(prices.timestamps.length);
  } catch (error) {
    if (error.name !== 'AbortError') fill(priceEl, h('p', { class: 'error' }, `Prices: ${errorText(error)}`));
  }
}
