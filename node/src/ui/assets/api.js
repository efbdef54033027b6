// The node's /v1 JSON API, the same contract the CLI uses (docs/API.md). The session cookie
// authenticates: the browser sends it by itself, same origin only.

/** An error the API answered: `status`, `message`, and `field` when one field is at fault. */
export class ApiError extends Error {
  constructor(status, message, field) {
    super(message);
    this.status = status;
    this.field = field || null;
  }
}

/**
 * Calls the API. `body` is sent as JSON unless it is a Blob/File (sent as is, with its type).
 * Resolves to the parsed JSON answer; rejects with ApiError.
 */
export async function api(method, path, body) {
  const init = { method, credentials: 'same-origin', headers: {} };
  if (body instanceof Blob) {
    init.body = body;
    init.headers['Content-Type'] = body.type || 'application/octet-stream';
  } else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers['Content-Type'] = 'application/json';
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, 'the node is not answering: is `swapmeet node` still running?');
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = { error: text }; }
  }
  if (!res.ok) {
    const message = (data && data.error) || `${res.status} ${res.statusText}`;
    const err = new ApiError(res.status, message, data && data.field);
    if (res.status === 401) window.dispatchEvent(new CustomEvent('swapmeet:logged-out', { detail: message }));
    throw err;
  }
  return data;
}

export const get = (path) => api('GET', path);
export const post = (path, body) => api('POST', path, body === undefined ? {} : body);
export const put = (path, body) => api('PUT', path, body);
export const del = (path) => api('DELETE', path);

/** The URL of a photo or thumbnail by its hash (fetched from peers when not held locally). */
export const blobUrl = (hash) => `/v1/blobs/${encodeURIComponent(hash)}`;

/** A query string from an object, leaving out empty values. */
export function qs(params) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== '') p.set(k, String(v));
  }
  const s = p.toString();
  return s ? `?${s}` : '';
}
