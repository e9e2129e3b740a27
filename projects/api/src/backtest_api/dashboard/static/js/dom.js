// Tiny DOM helpers: the dashboard builds its views with h() instead of a framework (no build step).

/** Create an element: h('a', {href: '#/x', class: 'btn', onclick: fn}, 'text', child, ...). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') el.addEventListener(name.slice(2), value);
    else if (name === 'class') el.className = value;
    else if (name === 'style' && typeof value === 'object') Object.assign(el.style, value);
    else if (name in el && typeof value !== 'string') el[name] = value;
    else el.setAttribute(name, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace an element's content. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export function fmtNumber(value, digits = 2) {
  if (value === null || value === undefined) return '—';
  if (typeof value !== 'number') return String(value);
  if (Number.isInteger(value)) return value.toLocaleString('en-US');
  return value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

export function fmtPct(value, digits = 2) {
  return value === null || value === undefined ? '—' : `${fmtNumber(value * 100, digits)} %`;
}

export function fmtTime(value) {
  if (!value) return '—';
  const date = typeof value === 'number' ? new Date(value * 1000) : new Date(value);
  return date.toISOString().replace('T', ' ').slice(0, 19);
}

export function fmtBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

export function shortId(id) {
  return id ? id.slice(0, 8) : '—';
}

export function statusBadge(status) {
  return h('span', { class: `badge status-${status}`, 'data-status': status }, status);
}

export function progressBar(fraction, label) {
  const pct = Math.max(0, Math.min(1, fraction || 0)) * 100;
  return h('div', { class: 'progress', role: 'progressbar', 'aria-valuenow': pct.toFixed(0) },
    h('div', { class: 'progress-fill', style: { width: `${pct}%` } }),
    h('span', { class: 'progress-label' }, label ?? `${pct.toFixed(0)} %`));
}

export function errorText(error) {
  if (error && error.field) return `${error.field}: ${error.reason || error.message}`;
  return error && error.message ? error.message : String(error);
}
