// The node's live events (`GET /v1/events`, server-sent events), one stream for the whole page.
// Names: 'listing' (the unnamed events: listings stored, changed, withdrawn), 'message',
// 'delivery', 'alert', 'negotiation', 'deal', 'review' (docs/API.md).

const handlers = new Map();
let source = null;

function dispatch(name, ev) {
  let data;
  try { data = JSON.parse(ev.data); } catch { return; }
  for (const fn of handlers.get(name) || []) {
    try { fn(data); } catch (e) { console.error(e); }
  }
}

function connect() {
  if (source) return;
  source = new EventSource('/v1/events');
  source.onmessage = (ev) => dispatch('listing', ev);
  for (const name of ['message', 'delivery', 'alert', 'negotiation', 'deal', 'review']) {
    source.addEventListener(name, (ev) => dispatch(name, ev));
  }
}

/** Calls `fn(data)` for each event named `name`; returns the function that stops it. */
export function on(name, fn) {
  connect();
  if (!handlers.has(name)) handlers.set(name, new Set());
  handlers.get(name).add(fn);
  return () => handlers.get(name).delete(fn);
}

/** Closes the stream (logged out). */
export function close() {
  if (source) source.close();
  source = null;
}
