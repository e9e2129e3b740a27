// The API client: every call carries `Authorization: Bearer <key>`, exactly as the API authenticates.
// Server-sent events are read with fetch (EventSource cannot send that header).

const KEY = 'backtest.apiKey';

export function apiKey() {
  return sessionStorage.getItem(KEY) || localStorage.getItem(KEY);
}

/** Keep the key for this tab only, or (remember) across browser restarts. */
export function setApiKey(key, remember) {
  signOut();
  (remember ? localStorage : sessionStorage).setItem(KEY, key);
}

export function signOut() {
  sessionStorage.removeItem(KEY);
  localStorage.removeItem(KEY);
}

/** An API error answer: {status, code, message, field, reason}. */
export class ApiError extends Error {
  constructor(status, body) {
    const data = typeof body === 'object' && body ? body : { message: String(body || `HTTP ${status}`) };
    super(data.message || `HTTP ${status}`);
    this.status = status;
    this.code = data.code;
    this.field = data.field;
    this.reason = data.reason;
  }
}

function authHeaders(extra = {}) {
  const key = apiKey();
  return key ? { Authorization: `Bearer ${key}`, ...extra } : { ...extra };
}

async function parse(response) {
  const text = await response.text();
  const type = response.headers.get('content-type') || '';
  return text && type.includes('json') ? JSON.parse(text) : text;
}

/** Call the API; `json` is sent as a JSON body, `body` as is. Throws ApiError on 4xx/5xx. */
export async function api(path, { method = 'GET', json, body, headers = {}, signal } = {}) {
  const init = { method, headers: authHeaders(headers), signal };
  if (json !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(json);
  } else if (body !== undefined) {
    init.body = body;
  }
  const response = await fetch(path, init);
  const data = await parse(response);
  if (!response.ok) {
    if (response.status === 401) window.dispatchEvent(new CustomEvent('unauthorized'));
    throw new ApiError(response.status, data);
  }
  return data;
}

/** A file the API serves behind the key (e.g. trades.csv): fetched, then saved by the browser. */
export async function download(path, filename) {
  const response = await fetch(path, { headers: authHeaders() });
  if (!response.ok) throw new ApiError(response.status, await parse(response));
  saveBlob(await response.blob(), filename);
}

export function saveBlob(blob, filename) {
  const url = URL.createObjectURL(blob);
  const link = Object.assign(document.createElement('a'), { href: url, download: filename });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/**
 * Read a server-sent event stream until it ends or `signal` aborts; onEvent(data, type) per event.
 * Resolves when the server closes the stream (the API does once the job or bundle is final).
 */
export async function stream(path, onEvent, signal) {
  const response = await fetch(path, { headers: authHeaders({ Accept: 'text/event-stream' }), signal });
  if (!response.ok) throw new ApiError(response.status, await parse(response));
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n?/g, '\n');
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let type = 'message';
      const data = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) type = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).trimStart());
      }
      if (data.length) onEvent(JSON.parse(data.join('\n')), type);
    }
  }
}

/** stream(), swallowing the AbortError of a view that was left. */
export function follow(path, onEvent, signal) {
  return stream(path, onEvent, signal).catch((error) => {
    if (error.name !== 'AbortError') console.warn('event stream', path, error);
  });
}
