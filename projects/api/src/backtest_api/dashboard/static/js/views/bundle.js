// One sweep: a live progress bar, the ranked results, and a heatmap when the grid has two parameters.
import { api, follow } from '../api.js';
import { heatmap } from '../charts.js';
import { fill, fmtNumber, fmtTime, h, progressBar, shortId } from '../dom.js';

const RANK_BY = ['sharpe', 'sortino', 'total_return', 'cagr', 'calmar', 'max_drawdown', 'profit_factor', 'win_rate'];
const LOWER_IS_BETTER = new Set(['annual_volatility', 'max_drawdown', 'max_drawdown_duration_bars']);
const COLUMNS = ['total_return', 'sharpe', 'max_drawdown', 'num_trades'];
const TABLE_ROWS = 25;

export async function bundleView(root, { params: [id], signal }) {
  const head = h('div', { class: 'detail-head' });
  const rankBy = h('select', { id: 'rank-by' });
  const ranked = h('div', { id: 'ranked' });
  const heat = h('div', { id: 'heatmap-box' });
  const title = h('h1', {}, 'Sweep ', h('span', { class: 'mono' }, shortId(id)));
  root.append(title, head, h('div', { class: 'row' }, h('label', { class: 'inline' }, 'Rank by ', rankBy)), heat, ranked);

  let bundle = await api(`/api/v1/bundles/${id}?top=0`, { signal });
  fill(rankBy, RANK_BY.map((m) => h('option', { value: m, selected: m === bundle.rank_by }, m)));
  if (bundle.name) title.append(` — ${bundle.name}`);

  const renderHead = () => {
    const counts = Object.entries(bundle.counts).map(([s, n]) => h('span', { class: `badge status-${s}` }, `${s} ${n}`));
    fill(head,
      h('div', { class: 'row' },
        h('span', { class: `badge status-${bundle.status}`, id: 'bundle-status' }, bundle.status),
        progressBar(bundle.progress, `${Math.round(bundle.progress * 100)} % of ${bundle.total_jobs}`),
        bundle.finished ? null : h('button', { id: 'cancel', class: 'danger', onclick: cancel }, 'Cancel sweep')),
      h('p', { class: 'muted small' }, counts, ` · created ${fmtTime(bundle.created_at)}`));
  };

  async function cancel() {
    await api(`/api/v1/bundles/${id}/cancel`, { method: 'POST' });
    await refresh();
  }

  let loading = null;
  async function refresh() {
    // All results when a heatmap may be drawn (the grid is at most the bundle size limit), else the top rows.
    const top = Math.min(bundle.total_jobs, 10000);
    bundle = await api(`/api/v1/bundles/${id}?top=${top}&rank_by=${rankBy.value}`, { signal });
    renderHead();
    renderRanked();
  }
  const refreshSoon = () => {
    if (!loading) loading = new Promise((r) => setTimeout(r, 1000)).then(refresh).catch(() => {}).finally(() => { loading = null; });
  };

  function renderRanked() {
    const results = bundle.results;
    if (!results.length) {
      fill(ranked, h('p', { class: 'muted' }, 'No finished results yet.'));
      fill(heat);
      return;
    }
    const paramNames = Object.keys(results[0].parameters);
    const metric = bundle.rank_by;
    const columns = [metric, ...COLUMNS.filter((c) => c !== metric)];
    fill(ranked, h('table', { class: 'grid', id: 'ranked-table' },
      h('thead', {}, h('tr', {}, h('th', {}, '#'), paramNames.map((p) => h('th', {}, p)), columns.map((c) => h('th', {}, c)), h('th', {}, ''))),
      h('tbody', {}, results.slice(0, TABLE_ROWS).map((r) => h('tr', { 'data-rank': r.rank },
        h('td', {}, r.rank), paramNames.map((p) => h('td', { class: 'num' }, String(r.parameters[p]))),
        columns.map((c) => h('td', { class: 'num' }, fmtNumber(r.metrics[c], 3))),
        h('td', {}, h('a', { href: `#/backtests/${r.backtest_id}` }, 'open')))))),
    results.length > TABLE_ROWS ? h('p', { class: 'muted small' }, `Top ${TABLE_ROWS} of ${results.length}.`) : null);
    if (paramNames.length === 2 && results.every((r) => paramNames.every((p) => typeof r.parameters[p] === 'number'))) {
      const canvas = h('canvas', { id: 'heatmap' });
      fill(heat, canvas);
      heatmap(canvas, {
        xName: paramNames[0], yName: paramNames[1], metric, lowerIsBetter: LOWER_IS_BETTER.has(metric),
        cells: results.map((r) => ({ x: r.parameters[paramNames[0]], y: r.parameters[paramNames[1]], value: r.metrics[metric] })),
      });
    } else {
      fill(heat);
    }
  }

  rankBy.addEventListener('change', () => refresh().catch(() => {}));
  await refresh();
  if (!bundle.finished) {
    await follow(`/api/v1/bundles/${id}/events`, (event) => {
      bundle = { ...bundle, status: event.status, progress: event.progress };
      renderHead();
      refreshSoon();
    }, signal);
    if (!signal.aborted) await refresh();
  }
}
