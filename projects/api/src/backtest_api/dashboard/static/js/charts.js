// Charts on uPlot (canvas; draws 100k+ points in milliseconds) and a plain-canvas heatmap.
import uPlot from '/ui/vendor/uplot/1.6.32/uPlot.esm.js';

const WIDTH_PAD = 32;

function sizeOf(el, height) {
  return { width: Math.max(320, el.clientWidth - WIDTH_PAD), height };
}

/** Keep a chart as wide as its container. */
function autosize(chart, el, height, signal) {
  const observer = new ResizeObserver(() => chart.setSize(sizeOf(el, height)));
  observer.observe(el);
  signal?.addEventListener('abort', () => { observer.disconnect(); chart.destroy(); });
}

/** A line chart of one series over epoch-second timestamps. */
export function lineChart(el, { title, xs, ys, label, color = '#2b6cb0', fill, height = 260, signal, yFormat }) {
  const opts = {
    title, ...sizeOf(el, height),
    scales: { x: { time: true } },
    series: [{}, { label, stroke: color, width: 1.5, fill, points: { show: false } }],
    axes: [{}, { values: yFormat ? (u, vals) => vals.map(yFormat) : undefined, size: 70 }],
    legend: { live: true },
  };
  const chart = new uPlot(opts, [xs, ys], el);
  autosize(chart, el, height, signal);
  return chart;
}

/** Equity drawdown as a fraction below the running peak. */
export function drawdown(equity) {
  let peak = -Infinity;
  return equity.map((value) => {
    peak = Math.max(peak, value);
    return peak > 0 ? value / peak - 1 : 0;
  });
}

function triangle(ctx, x, y, size, up) {
  ctx.beginPath();
  ctx.moveTo(x, y + (up ? -size : size));
  ctx.lineTo(x - size, y + (up ? size : -size));
  ctx.lineTo(x + size, y + (up ? size : -size));
  ctx.closePath();
  ctx.fill();
}

/**
 * The close price with the trades drawn on it: ▲ an entry (green long, red short), ▼ an exit,
 * a dotted segment from entry to exit. Drawn in a hook, so markers stay exact however the prices were thinned.
 */
export function priceChart(el, { xs, close, trades, height = 320, signal }) {
  const drawTrades = (u) => {
    const { ctx } = u;
    const size = 4 * devicePixelRatio;
    ctx.save();
    ctx.beginPath();
    ctx.rect(u.bbox.left, u.bbox.top, u.bbox.width, u.bbox.height);
    ctx.clip();
    for (const trade of trades) {
      const x0 = u.valToPos(trade.entry_time, 'x', true);
      const y0 = u.valToPos(trade.entry_price, 'y', true);
      const x1 = u.valToPos(trade.exit_time, 'x', true);
      const y1 = u.valToPos(trade.exit_price, 'y', true);
      const long = trade.side === 'long';
      ctx.strokeStyle = trade.pnl >= 0 ? 'rgba(47,133,90,0.7)' : 'rgba(197,48,48,0.7)';
      ctx.setLineDash([3, 3]);
      ctx.beginPath();
      ctx.moveTo(x0, y0);
      ctx.lineTo(x1, y1);
      ctx.stroke();
      ctx.setLineDash([]);
      ctx.fillStyle = long ? '#2f855a' : '#c53030';
      triangle(ctx, x0, y0 + (long ? size * 2 : -size * 2), size, long);
      ctx.fillStyle = '#4a5568';
      triangle(ctx, x1, y1 + (long ? -size * 2 : size * 2), size, !long);
    }
    ctx.restore();
  };
  const opts = {
    title: `Price and ${trades.length} trades`, ...sizeOf(el, height),
    scales: { x: { time: true } },
    series: [{}, { label: 'close', stroke: '#4a5568', width: 1, points: { show: false } }],
    axes: [{}, { size: 70 }],
    hooks: { draw: [drawTrades] },
  };
  const chart = new uPlot(opts, [xs, close], el);
  autosize(chart, el, height, signal);
  return chart;
}

function color(t) {
  // 0 → red, 0.5 → pale yellow, 1 → green
  const stops = [[197, 48, 48], [250, 240, 180], [47, 133, 90]];
  const [a, b, f] = t < 0.5 ? [stops[0], stops[1], t * 2] : [stops[1], stops[2], (t - 0.5) * 2];
  return `rgb(${a.map((v, i) => Math.round(v + (b[i] - v) * f)).join(',')})`;
}

/** A heatmap of a metric over a two-parameter grid: x = first parameter, y = second. */
export function heatmap(canvas, { xName, yName, cells, metric, lowerIsBetter }) {
  const xs = [...new Set(cells.map((c) => c.x))].sort((a, b) => a - b);
  const ys = [...new Set(cells.map((c) => c.y))].sort((a, b) => a - b);
  const values = cells.map((c) => c.value).filter((v) => typeof v === 'number');
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  const left = 90, top = 30, bottom = 50, right = 20;
  const cellW = Math.max(28, Math.min(80, Math.floor(640 / xs.length)));
  const cellH = Math.max(22, Math.min(48, Math.floor(360 / ys.length)));
  const width = Math.max(left + xs.length * cellW + right, 460); // room for the title
  const height = Math.max(top + ys.length * cellH + bottom, 220); // room for the y label
  const ratio = devicePixelRatio || 1;
  Object.assign(canvas, { width: width * ratio, height: height * ratio });
  Object.assign(canvas.style, { width: `${width}px`, height: `${height}px` });
  const ctx = canvas.getContext('2d');
  ctx.scale(ratio, ratio);
  ctx.font = '12px system-ui, sans-serif';
  ctx.fillStyle = '#1a202c';
  ctx.fillText(`${metric} by ${xName} × ${yName}`, left, 18);
  for (const cell of cells) {
    const i = xs.indexOf(cell.x);
    const j = ys.indexOf(cell.y);
    const x = left + i * cellW;
    const y = top + (ys.length - 1 - j) * cellH;
    if (typeof cell.value !== 'number') {
      ctx.fillStyle = '#e2e8f0';
    } else {
      let t = hi > lo ? (cell.value - lo) / (hi - lo) : 0.5;
      if (lowerIsBetter) t = 1 - t;
      ctx.fillStyle = color(t);
    }
    ctx.fillRect(x + 1, y + 1, cellW - 2, cellH - 2);
    if (cellW >= 40 && typeof cell.value === 'number') {
      ctx.fillStyle = '#1a202c';
      ctx.textAlign = 'center';
      ctx.fillText(cell.value.toFixed(2), x + cellW / 2, y + cellH / 2 + 4);
    }
  }
  ctx.fillStyle = '#4a5568';
  ctx.textAlign = 'center';
  xs.forEach((v, i) => ctx.fillText(String(v), left + i * cellW + cellW / 2, top + ys.length * cellH + 16));
  ctx.fillText(xName, left + (xs.length * cellW) / 2, top + ys.length * cellH + 38);
  ctx.textAlign = 'right';
  ys.forEach((v, j) => ctx.fillText(String(v), left - 8, top + (ys.length - 1 - j) * cellH + cellH / 2 + 4));
  ctx.save();
  ctx.translate(14, top + (ys.length * cellH) / 2);
  ctx.rotate(-Math.PI / 2);
  ctx.textAlign = 'center';
  ctx.fillText(yName, 0, 0);
  ctx.restore();
  return { xs, ys, lo, hi };
}
