// Alerts (`#/alerts`): the alerts newest first (the ones unseen before this visit marked new;
// GET /v1/alerts marks them seen), saved searches, watched listings, my wanted posts (post,
// withdraw, renew), the area's wanted posts and the demand summary. New alerts arrive live.
import { get, post } from '../api.js';
import { h, mount, ago, when, short, money, clearErrors, showError, notice } from '../dom.js';

const ALERT_LIMIT = 200;
const CATEGORIES = ['antiques-collectibles', 'baby-kids', 'bikes', 'books-media', 'clothing-shoes',
  'computers-phones', 'electronics', 'furniture', 'garden-outdoor', 'health-beauty', 'home-kitchen',
  'jewelry-watches', 'music-instruments', 'pets', 'sports-leisure', 'tools-diy', 'toys-games',
  'vehicles-parts', 'office-business', 'other'];

const kinds = {
  match: 'Match', price_drop: 'Price drop', digest: 'Matches', price_change: 'Price change',
  sold: 'Sold', withdrawn: 'Withdrawn', expired: 'Expired', expiring: 'Expiring soon',
  renew: 'Renew your listing', wanted_match: 'Someone wants your item',
};

/** An alert's price: `{"fixed": {amount_minor, currency}}` or "free". */
function price(p) {
  if (!p) return null;
  if (p === 'free' || p.free !== undefined) return 'free';
  if (p.fixed) return money(p.fixed.amount_minor, p.fixed.currency);
  return typeof p === 'string' ? p : null;
}

function party(id) {
  return h('span', { class: 'party', title: id }, short(id, 12));
}

function time(secs) {
  return h('time', { datetime: new Date(secs * 1000).toISOString(), title: when(secs) }, ago(secs));
}

export async function render(main, ctx) {
  const alertsBox = h('div', { id: 'alerts' });
  const searchesBox = h('div', { id: 'saved-searches' });
  const watchedBox = h('div', { id: 'watched-listings' });
  const wantedBox = h('div', { id: 'my-wanted' });
  const browseBox = h('div', { id: 'area-wanted' });
  const demandBox = h('div', { id: 'demand' });
  mount(main, h('h1', {}, 'Alerts'),
    h('nav', { class: 'page-toc', 'aria-label': 'On this page' }, h('ul', {},
      [['h-alerts', 'Alerts'], ['h-searches', 'Saved searches'], ['h-watched', 'Watched listings'],
        ['h-wanted', 'Your wanted posts'], ['h-area-wanted', 'Wanted nearby'], ['h-demand', 'Demand']]
        .map(([id, t]) => h('li', {}, h('a', { href: `#${id}`, onclick: (e) => { e.preventDefault(); const el = document.getElementById(id); if (el) { el.scrollIntoView(); el.focus({ preventScroll: true }); } } }, t))))),
    section('h-alerts', 'Alerts', alertsBox),
    section('h-searches', 'Saved searches', searchesBox),
    section('h-watched', 'Watched listings', watchedBox),
    section('h-wanted', 'Your wanted posts', wantedBox),
    section('h-area-wanted', 'Wanted nearby', browseBox),
    section('h-demand', 'What people nearby are looking for', demandBox));

  let alerts = [];
  let freshIds = new Set();

  async function loadAlerts() {
    const r = await get(`/v1/alerts?limit=${ALERT_LIMIT}`);
    alerts = r.alerts;
    // The answer shows them as they were before this request marked them seen.
    for (const a of alerts) if (!a.seen) freshIds.add(a.id);
    drawAlerts();
    refreshBadge();
  }

  function drawAlerts() {
    if (!alerts.length) {
      mount(alertsBox, h('p', { class: 'muted' }, 'No alerts yet. Save a search on the search page and new matches show here.'));
      return;
    }
    const n = alerts.filter((a) => freshIds.has(a.id)).length;
    mount(alertsBox,
      h('p', { class: 'muted', id: 'alerts-summary' }, n ? `${n} new since your last visit` : 'Nothing new since your last visit'),
      h('ul', { class: 'plain alert-list' }, alerts.map((a) => alertRow(a, freshIds.has(a.id), ctx))));
  }

  let searches = [];
  async function loadWatches() {
    const w = await get('/v1/watches');
    searches = w.watches;
    drawSearches();
    if (!w.listings.length) {
      mount(watchedBox, h('p', { class: 'muted' }, 'You watch no listings. Watch one from its page to hear of price changes and when it sells.'));
    } else {
      mount(watchedBox, h('ul', { class: 'plain' }, w.listings.map((l) => h('li', { class: 'panel watched', dataset: { listing: l.listing } },
        h('a', { href: ctx.link('listing', l.listing) }, l.title || short(l.listing)),
        ' ', h('strong', {}, price(l.price) || ''),
        h('span', { class: 'muted' }, ` · expires ${when(l.expires_at)}`),
        ' ', removeButton(`Stop watching ${l.title || l.listing}`, 'Stop watching', async () => {
          await post('/v1/watches/listings/remove', { listing: l.listing });
          notice('No longer watched.');
          await loadWatches();
        })))));
    }
  }

  function drawSearches() {
    if (!searches.length) {
      mount(searchesBox, h('p', { class: 'muted' }, 'No saved searches. Search for something, then "save this search" to be alerted of new matches.'));
      return;
    }
    // The API gives no match count per saved search; count the alerts it raised among those loaded.
    const counts = new Map();
    for (const a of alerts) if (a.search !== undefined) counts.set(a.search, (counts.get(a.search) || 0) + (a.count || 1));
    mount(searchesBox, h('div', { class: 'table-wrap' }, h('table', { class: 'saved-searches' },
      h('caption', { class: 'visually-hidden' }, 'Saved searches'),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Name'), h('th', { scope: 'col' }, 'Search'),
        h('th', { scope: 'col' }, 'Alerted matches'), h('th', { scope: 'col' }, 'Saved'), h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')))),
      h('tbody', {}, searches.map((s) => h('tr', { dataset: { watch: String(s.id) } },
        h('td', {}, h('a', { href: searchLink(s.query) }, s.name)),
        h('td', { class: 'muted' }, describe(s.query)),
        h('td', {}, String(counts.get(s.id) || 0)),
        h('td', {}, time(s.created_at)),
        h('td', {}, removeButton(`Remove saved search ${s.name}`, 'Remove', async () => {
          await post('/v1/watches/remove', { watch: String(s.id) });
          notice(`Saved search "${s.name}" removed.`);
          await loadWatches();
        }))))))));
  }

  async function loadWanted() {
    const { wanted } = await get('/v1/wanted/mine');
    mount(wantedBox,
      wanted.length ? h('ul', { class: 'plain' }, wanted.map((w) => wantedRow(w, true, ctx, loadWanted))) : h('p', { class: 'muted' }, 'You have no wanted posts.'),
      wantedForm(loadWanted));
  }

  await Promise.all([loadAlerts(), loadWatches(), loadWanted()]);
  drawSearches();
  browse(browseBox, ctx);
  demand(demandBox).catch((e) => mount(demandBox, h('p', { class: 'form-error' }, e.message)));

  ctx.on('alert', (a) => {
    if (!a || alerts.some((x) => x.id === a.id)) return;
    alerts.unshift(a);
    freshIds.add(a.id);
    drawAlerts();
    drawSearches();
    // Seen now that it is on screen; a quiet request marks it (and the header's badge follows).
    clearTimeout(markTimer);
    markTimer = setTimeout(() => get('/v1/alerts?limit=1').then(refreshBadge).catch(() => {}), 1000);
  });
  let markTimer = null;
  return () => clearTimeout(markTimer);
}

/** The header's badge shows the unseen count; after this page marked them seen it is 0. */
function refreshBadge() {
  const b = document.getElementById('alerts-badge');
  if (b) { b.hidden = true; b.textContent = ''; }
}

function section(id, title, box) {
  return h('section', { 'aria-labelledby': id }, h('h2', { id, tabindex: '-1' }, title), box);
}

function removeButton(aria, label, fn) {
  const b = h('button', {
    type: 'button', class: 'secondary small-button', 'aria-label': aria,
    onclick: async () => {
      b.disabled = true;
      try { await fn(); } catch (e) { notice(e.message, 'error'); b.disabled = false; }
    },
  }, label);
  return b;
}

function describe(q) {
  const parts = [];
  if (q.text) parts.push(`"${q.text}"`);
  if (q.category) parts.push(q.category);
  if (q.condition) parts.push(q.condition);
  if (q.price) {
    const c = q.price.currency || '';
    if (q.price.min_minor != null && q.price.max_minor != null) parts.push(`${money(q.price.min_minor, c)} to ${money(q.price.max_minor, c)}`);
    else if (q.price.max_minor != null) parts.push(`up to ${money(q.price.max_minor, c)}`);
    else if (q.price.min_minor != null) parts.push(`from ${money(q.price.min_minor, c)}`);
  }
  if (q.near) parts.push(`within ${q.near.radius_km} km`);
  if (q.seller) parts.push(`seller ${short(q.seller)}`);
  return parts.join(', ') || 'everything';
}

/** The search page with the saved search's words and filters (names as the search page reads them). */
function searchLink(q) {
  const p = new URLSearchParams();
  if (q.text) p.set('q', q.text);
  if (q.category) p.set('category', q.category);
  if (q.condition) p.set('condition', q.condition);
  if (q.price) {
    // The search page takes prices as typed ("249.50") with their currency.
    const c = q.price.currency || '';
    const digits = ['JPY', 'KRW', 'HUF', 'CLP', 'ISK'].includes(c) ? 0 : 2;
    const major = (m) => (m / 10 ** digits).toFixed(digits);
    if (c) p.set('currency', c);
    if (q.price.min_minor != null) p.set('min_price', major(q.price.min_minor));
    if (q.price.max_minor != null) p.set('max_price', major(q.price.max_minor));
  }
  const s = p.toString();
  return s ? `#/search?${s}` : '#/search';
}

function alertRow(a, fresh, ctx) {
  const p = price(a.price);
  const before = price(a.previous_price);
  let what;
  if (a.kind === 'digest') {
    what = [h('span', {}, `${a.count} new listings`),
      a.listings && a.listings.length ? h('ul', { class: 'digest' }, a.listings.slice(0, 10).map((id) => h('li', {}, h('a', { href: ctx.link('listing', id) }, `Listing ${short(id, 12)}`)))) : null];
  } else if (a.listing) {
    what = [h('a', { href: ctx.link('listing', a.listing) }, a.title || `Listing ${short(a.listing, 12)}`)];
  } else {
    what = [a.title || ''];
  }
  return h('li', { class: `alert-row panel${fresh ? ' fresh' : ''}`, dataset: { alert: String(a.id), kind: a.kind } },
    h('p', { class: 'alert-head' },
      fresh ? h('span', { class: 'new-tag' }, 'New') : null,
      h('span', { class: 'kind' }, kinds[a.kind] || a.kind),
      a.search_name ? h('span', { class: 'muted' }, ` · ${a.search_name}`) : null,
      ' · ', time(a.at)),
    h('p', { class: 'alert-body' }, what,
      p ? [' ', h('strong', {}, a.kind === 'wanted_match' ? `up to ${p}` : p)] : null,
      before ? h('span', { class: 'muted' }, ` (was ${before})`) : null,
      a.expires_at && ['expiring', 'renew'].includes(a.kind) ? h('span', { class: 'muted' }, ` · expires ${when(a.expires_at)}`) : null),
    a.kind === 'renew' && a.listing ? h('p', {}, h('a', { href: ctx.link('mine') }, 'Renew it in My listings')) : null,
    a.kind === 'wanted_match' && a.wanted ? h('p', {}, 'Your listing ', a.listing ? h('a', { href: ctx.link('listing', a.listing) }, short(a.listing, 12)) : '', ' answers a wanted post. Answer it below under "Wanted nearby".') : null);
}

function wantedRow(w, mine, ctx, reload) {
  const expired = w.status === 'expired';
  const body = h('li', { class: 'panel wanted', dataset: { wanted: w.id } },
    h('p', {}, h('strong', {}, w.title), ' ', h('span', { class: 'muted' }, `up to ${w.max_price} · ${w.category}`),
      w.place ? h('span', { class: 'muted' }, ` · ${w.place}`) : null,
      w.distance_km != null ? h('span', { class: 'muted' }, ` · ${w.distance_km.toFixed(1)} km`) : null,
      ' ', h('span', { class: `state ${w.status}` }, w.status)),
    w.description ? h('p', {}, w.description) : null,
    h('p', { class: 'muted small' }, mine ? '' : ['by ', party(w.poster), ' · '], `${expired ? 'expired' : 'expires'} ${when(w.expires_at)}`));
  if (mine) {
    body.append(h('div', { class: 'actions' },
      removeButton(`Renew wanted post ${w.title}`, 'Renew', async () => {
        await post(`/v1/wanted/${encodeURIComponent(w.id)}/renew`, {});
        notice('Renewed for 30 days.');
        await reload();
      }),
      expired ? null : removeButton(`Withdraw wanted post ${w.title}`, 'Withdraw', async () => {
        await post(`/v1/wanted/${encodeURIComponent(w.id)}/withdraw`, {});
        notice('Withdrawn.');
        await reload();
      })));
  } else {
    body.append(answerForm(w));
  }
  return body;
}

/** Answering a wanted post is a message with its id as the listing (a thread with its poster). */
function answerForm(w) {
  const fid = `answer-${w.id}`;
  const text = h('input', { name: 'text', id: `${fid}-text`, maxlength: 2000, autocomplete: 'off', required: true });
  const form = h('form', {
    class: 'row answer-form', id: fid,
    onsubmit: async (e) => {
      e.preventDefault();
      clearErrors(form);
      try {
        const r = await post('/v1/messages', { listing: w.id, text: text.value.trim() });
        notice('Sent: the conversation is in your inbox.');
        location.hash = `#/inbox/${r.thread}`;
      } catch (err) { showError(form, err); }
    },
  },
  field(`${fid}-text`, 'Answer the poster', text),
  h('div', {}, h('button', { type: 'submit' }, 'Send')));
  return form;
}

function wantedForm(reload) {
  const input = (name, label, attrs = {}) => {
    const el = h('input', { name, id: `wanted-${name}`, autocomplete: 'off', ...attrs });
    return [el, field(`wanted-${name}`, label, el)];
  };
  const [title, titleL] = input('title', 'What are you looking for?', { maxlength: 140, required: true });
  const [maxPrice, priceL] = input('max_price', h('span', {}, 'Your maximum price ', h('span', { class: 'hint' }, '("80", "80 EUR" or "free")')), { required: true, inputmode: 'decimal' });
  const category = h('select', { name: 'category', id: 'wanted-category', required: true },
    CATEGORIES.map((c) => h('option', { value: c, selected: c === 'other' }, c.replace(/-/g, ' '))));
  const [loc, locL] = input('location', h('span', {}, 'Location ', h('span', { class: 'hint' }, '(LAT,LON; empty: your home)')), { placeholder: '52.52,13.40' });
  const [place, placeL] = input('place', h('span', {}, 'Place name ', h('span', { class: 'hint' }, '(optional)')), { maxlength: 64 });
  const description = h('textarea', { name: 'description', id: 'wanted-description', rows: 3 });
  const days = h('select', { name: 'expires_in_secs', id: 'wanted-expires' },
    [[7, '7 days'], [14, '14 days'], [30, '30 days']].map(([d, t]) => h('option', { value: String(d * 86400), selected: d === 14 }, t)));
  const button = h('button', { type: 'submit', id: 'wanted-submit' }, 'Post wanted');
  const form = h('form', {
    class: 'stack panel', id: 'wanted-form', novalidate: true,
    onsubmit: async (e) => {
      e.preventDefault();
      clearErrors(form);
      const body = { title: title.value.trim(), max_price: maxPrice.value.trim(), category: category.value, expires_in_secs: Number(days.value) };
      if (description.value.trim()) body.description = description.value.trim();
      if (loc.value.trim()) body.location = loc.value.trim();
      if (place.value.trim()) body.place = place.value.trim();
      button.disabled = true;
      try {
        await post('/v1/wanted', body);
        notice('Your wanted post is published.');
        await reload();
      } catch (err) {
        showError(form, err);
        button.disabled = false;
      }
    },
  },
  h('h3', {}, 'Post what you are looking for'),
  titleL,
  h('div', { class: 'row' }, priceL, field('wanted-category', 'Category', category)),
  field('wanted-description', h('span', {}, 'Details ', h('span', { class: 'hint' }, '(optional)')), description),
  h('div', { class: 'row' }, locL, placeL, field('wanted-expires', 'Keep it up for', days)),
  h('div', { class: 'actions' }, button));
  return form;
}

function browse(box, ctx) {
  const text = h('input', { name: 'text', id: 'wanted-search-text', type: 'search', autocomplete: 'off' });
  const category = h('select', { name: 'category', id: 'wanted-search-category' },
    h('option', { value: '' }, 'any'), CATEGORIES.map((c) => h('option', { value: c }, c.replace(/-/g, ' '))));
  const results = h('div', { id: 'wanted-results', 'aria-live': 'polite' });
  const form = h('form', {
    class: 'row filters', id: 'wanted-search-form',
    onsubmit: async (e) => {
      e.preventDefault();
      clearErrors(form);
      const q = { limit: 50 };
      if (text.value.trim()) q.text = text.value.trim();
      if (category.value) q.category = category.value;
      try {
        const { wanted } = await post('/v1/wanted/search', q);
        const mine = ctx.me && ctx.me.seller;
        mount(results, wanted.length
          ? h('ul', { class: 'plain' }, wanted.map((w) => wantedRow(w, w.poster === mine, ctx, () => form.requestSubmit())))
          : h('p', { class: 'muted' }, 'No wanted posts match.'));
      } catch (err) { showError(form, err); }
    },
  },
  field('wanted-search-text', 'Words', text),
  field('wanted-search-category', 'Category', category),
  h('div', {}, h('button', { type: 'submit' }, 'Search wanted posts')));
  mount(box, form, results);
  form.requestSubmit();
}

async function demand(box) {
  const d = await get('/v1/demand');
  if (!d.posts) {
    mount(box, h('p', { class: 'muted' }, 'No wanted posts in your area yet.'));
    return;
  }
  const table = (caption, entries, head) => h('table', { class: 'compact' },
    h('caption', {}, caption),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, head), h('th', { scope: 'col' }, 'Posts'))),
    h('tbody', {}, entries.map(([k, n]) => h('tr', {}, h('td', {}, k), h('td', {}, String(n))))));
  const sorted = (o) => Object.entries(o || {}).sort((a, b) => b[1] - a[1]);
  mount(box,
    h('p', { class: 'muted' }, `${d.posts} wanted post${d.posts === 1 ? '' : 's'} on this node.`),
    h('div', { class: 'demand-grid' },
      table('By category', sorted(d.by_category), 'Category'),
      table('By maximum price', sorted(d.by_price_band), 'Price band'),
      table('By area', sorted(d.by_area), 'Area (cell)'),
      table('Most wanted words', (d.top_words || []).slice(0, 10), 'Word')));
}

/** A label above its control, in a `.field` (where `showError` puts the field's error). */
function field(id, label, control) {
  return h('div', { class: 'field' }, h('label', { for: id }, label), control);
}
