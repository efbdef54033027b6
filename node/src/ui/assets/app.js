// The UI's shell: the router (`#/page/arg?query`), the header's badges, and what happens when
// the session ends. Each page is a module in pages/ that exports
//   render(main, ctx) -> optional cleanup function
// with ctx = { arg, query (URLSearchParams), on (live events, stopped when the page is left),
//              go (navigate), me ({seller, peer_id}) }.

import { get } from './api.js';
import { h, mount } from './dom.js';
import * as events from './events.js';

const pages = {
  search: () => import('./pages/search.js'),
  listing: () => import('./pages/listing.js'),
  sell: () => import('./pages/sell.js'),
  mine: () => import('./pages/mine.js'),
  inbox: () => import('./pages/inbox.js'),
  offers: () => import('./pages/offers.js'),
  alerts: () => import('./pages/alerts.js'),
  node: () => import('./pages/node.js'),
};

const titles = {
  search: 'Search', listing: 'Listing', sell: 'Sell', mine: 'My listings', inbox: 'Inbox',
  offers: 'Offers & deals', alerts: 'Alerts', node: 'Node',
};

let me = null;
let cleanup = [];
// Pages already loaded: a hash change to one of them renders at once, without another
// `await import()` (a round through the module loader before the page can start its requests).
const loaded = {};
let loggedOut = false;

/** `#/listing/ID?x=1` -> { page: 'listing', arg: 'ID', query } */
export function parseHash(hash) {
  const raw = (hash || '').replace(/^#\/?/, '');
  const [path, q = ''] = raw.split('?');
  const [page, ...rest] = path.split('/').filter(Boolean);
  return { page: page || 'search', arg: rest.length ? decodeURIComponent(rest.join('/')) : null, query: new URLSearchParams(q) };
}

/** The hash of a page: link('listing', id, {tab: 'x'}). */
export function link(page, arg, query) {
  let s = `#/${page}`;
  if (arg) s += `/${encodeURIComponent(arg)}`;
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query || {})) if (v !== undefined && v !== null && v !== '') q.set(k, v);
  const qs = q.toString();
  return qs ? `${s}?${qs}` : s;
}

export function go(page, arg, query) {
  location.hash = link(page, arg, query);
}

function showLoggedOut(message) {
  loggedOut = true;
  events.close();
  const main = document.getElementById('main');
  mount(main,
    h('section', { class: 'message' },
      h('h1', {}, 'Log in to your node'),
      // The API's own wording is for scripts (it names the token); a person needs only this.
      h('p', {}, /session has ended/.test(message || '')
        ? 'Your session with the node has ended: the node restarted, the session expired, or you logged out.'
        : 'This page needs a session with your node.'),
      h('p', {}, 'Run ', h('code', {}, 'swapmeet ui'), ' in a terminal: it opens this page logged in.')));
}

async function route() {
  if (loggedOut) return;
  for (const fn of cleanup.splice(0)) { try { fn(); } catch (e) { console.error(e); } }
  const { page, arg, query } = parseHash(location.hash);
  const main = document.getElementById('main');
  const load = pages[page];
  document.querySelectorAll('[data-nav]').forEach((a) => {
    if (a.dataset.nav === page) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  });
  document.title = `${titles[page] || 'Not found'} · swapmeet`;
  if (!load) {
    mount(main, h('section', { class: 'message' }, h('h1', {}, 'Not found'), h('p', {}, h('a', { href: '#/search' }, 'Search listings'))));
    return;
  }
  mount(main, h('p', { class: 'loading' }, 'Loading…'));
  const on = (name, fn) => { const stop = events.on(name, fn); cleanup.push(stop); return stop; };
  try {
    const mod = loaded[page] || (loaded[page] = await load());
    const done = await mod.render(main, { arg, query, on, go, link, me });
    if (typeof done === 'function') cleanup.push(done);
  } catch (e) {
    if (e && e.status === 401) return; // showLoggedOut already ran
    console.error(e);
    mount(main, h('section', { class: 'message' }, h('h1', {}, 'Something went wrong'), h('p', { role: 'alert' }, String(e.message || e))));
  }
  main.focus({ preventScroll: true });
}

async function badges() {
  try {
    const inbox = await get('/v1/inbox');
    const unread = inbox.unread || 0;
    const b = document.getElementById('unread-badge');
    b.hidden = unread === 0;
    b.textContent = unread ? `${unread} unread` : '';
  } catch { /* the page shows errors; badges are a convenience */ }
  try {
    const { unseen } = await get('/v1/alerts?limit=1&keep_unseen=true');
    const b = document.getElementById('alerts-badge');
    b.hidden = unseen === 0;
    b.textContent = unseen ? `${unseen} new` : '';
  } catch { /* as above */ }
}

async function start() {
  window.addEventListener('swapmeet:logged-out', (e) => showLoggedOut(e.detail));
  try {
    me = await get('/v1/id');
  } catch (e) {
    if (e.status !== 401) showLoggedOut(String(e.message || e));
    return;
  }
  window.addEventListener('hashchange', route);
  for (const name of ['message', 'delivery', 'alert']) events.on(name, () => badges());
  badges();
  route();
}

start();
