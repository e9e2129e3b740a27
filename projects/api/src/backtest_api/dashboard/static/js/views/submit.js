// New backtest or sweep: a JSON editor with examples, checked against the API's dry run as you type.
import { api } from '../api.js';
import { errorText, fill, h } from '../dom.js';

const RANK_BY = ['sharpe', 'sortino', 'total_return', 'cagr', 'calmar', 'max_drawdown', 'profit_factor', 'win_rate'];

function pretty(value) {
  return JSON.stringify(value, null, 2);
}

export async function submitView(root, { params, signal }) {
  const query = new URLSearchParams(params[0] || '');
  const [{ items: datasets }, examples] = await Promise.all([
    api('/api/v1/datasets', { signal }),
    fetch('/ui/examples.json', { signal }).then((r) => r.json()),
  ]);
  if (!datasets.length) {
    root.append(h('h1', {}, 'New backtest'), h('p', {}, 'Upload a dataset first: ', h('a', { href: '#/datasets' }, 'Datasets')));
    return;
  }
  const names = Object.keys(examples.strategies);
  const dataset = h('select', { id: 'dataset' }, datasets.map((d) =>
    h('option', { value: d.id, selected: d.id === query.get('dataset') }, `${d.name} (${d.n_bars} bars)`)));
  const example = h('select', { id: 'example' }, names.map((n) => h('option', { value: n }, n)));
  const mode = h('select', { id: 'mode' }, h('option', { value: 'backtest' }, 'One backtest'), h('option', { value: 'bundle', selected: query.get('mode') === 'bundle' }, 'Sweep (parameter grid)'));
  const strategy = h('textarea', { id: 'strategy', class: 'code', rows: 24, spellcheck: false });
  const grid = h('textarea', { id: 'grid', class: 'code', rows: 6, spellcheck: false });
  const rankBy = h('select', { id: 'rank-by' }, RANK_BY.map((m) => h('option', { value: m }, m)));
  const bundleName = h('input', { id: 'bundle-name', placeholder: 'optional name' });
  const priority = h('input', { id: 'priority', type: 'number', value: 0, min: -100, max: 100 });
  const verdict = h('div', { id: 'validation', class: 'verdict muted' }, 'Checking…');
  const submit = h('button', { id: 'submit', class: 'primary', type: 'submit', disabled: true }, 'Submit');
  const sweepOnly = h('div', { class: 'sweep-only' },
    h('label', {}, 'Grid (dotted path in the strategy → values; the cartesian product is run)', grid),
    h('div', { class: 'row' }, h('label', {}, 'Rank by', rankBy), h('label', {}, 'Name', bundleName)));

  const loadExample = () => {
    strategy.value = pretty(examples.strategies[example.value]);
    grid.value = pretty(examples.grids[example.value]);
    check();
  };

  const request = () => {
    let parsed;
    try {
      parsed = JSON.parse(strategy.value);
    } catch (error) {
      throw Object.assign(new Error(`strategy is not valid JSON: ${error.message}`), { local: true });
    }
    const common = { dataset_id: dataset.value, priority: Number(priority.value || 0) };
    if (mode.value === 'backtest') return { kind: 'backtest', body: { ...common, strategy: parsed } };
    let parsedGrid;
    try {
      parsedGrid = JSON.parse(grid.value || '{}');
    } catch (error) {
      throw Object.assign(new Error(`grid is not valid JSON: ${error.message}`), { local: true });
    }
    const body = { ...common, base: parsed, grid: parsedGrid, rank_by: rankBy.value };
    if (bundleName.value.trim()) body.name = bundleName.value.trim();
    return { kind: 'bundle', body };
  };

  let timer = null;
  let generation = 0;
  async function check() {
    root.classList.toggle('is-sweep', mode.value === 'bundle');
    submit.textContent = mode.value === 'bundle' ? 'Submit sweep' : 'Submit backtest';
    clearTimeout(timer);
    submit.disabled = true;
    verdict.className = 'verdict muted';
    verdict.textContent = 'Checking…';
    timer = setTimeout(async () => {
      const mine = ++generation;
      try {
        const { kind, body } = request();
        const answer = await api(`/api/v1/validate/${kind}`, { method: 'POST', json: body, signal });
        if (mine !== generation) return;
        verdict.className = 'verdict ok';
        verdict.textContent = `✓ Valid: ${answer.total_jobs} backtest${answer.total_jobs === 1 ? '' : 's'} would run.`;
        submit.disabled = false;
      } catch (error) {
        if (mine !== generation || error.name === 'AbortError') return;
        verdict.className = 'verdict error';
        verdict.textContent = `✕ ${errorText(error)}`;
      }
    }, 300);
  }

  const form = h('form', { id: 'submit-form', class: 'card' },
    h('div', { class: 'row' },
      h('label', {}, 'What', mode), h('label', {}, 'Dataset', dataset),
      h('label', {}, 'Example', example), h('label', {}, 'Priority', priority)),
    h('label', {}, 'Strategy (JSON; see docs/engine.md for the spec)', strategy),
    sweepOnly, verdict, submit);
  form.addEventListener('input', (event) => { if (event.target !== example) check(); });
  // Typing is checked on 'input'; a text field's 'change' (on blur) must not re-disable Submit as it is clicked.
  form.addEventListener('change', (event) => {
    if (event.target === example) loadExample();
    else if (event.target.tagName === 'SELECT') check();
  });
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    submit.disabled = true;
    try {
      const { kind, body } = request();
      const accepted = await api(kind === 'backtest' ? '/api/v1/backtests' : '/api/v1/bundles', {
        method: 'POST', json: body, headers: { 'Idempotency-Key': crypto.randomUUID?.() ?? `${Date.now()}-${Math.random()}` },
      });
      location.hash = kind === 'backtest' ? `#/backtests/${accepted.id}` : `#/bundles/${accepted.id}`;
    } catch (error) {
      fill(verdict, `✕ ${errorText(error)}`);
      verdict.className = 'verdict error';
      submit.disabled = false;
    }
  });
  root.append(h('h1', {}, 'New backtest'), form);
  loadExample();
}
