// Search: a search box and the filters of `swapmeet search`, kept in the URL query (so back,
// forward and reload keep them), results as cards, refreshed live as listings arrive.
// Also exports the helpers the listing, sell and my-listings pages share (one file each is
// all the shell embeds, so the shared bits live here).

import { get, post, blobUrl } from '../api.js';
import { h, mount, money, toMinor, showError, clearErrors, notice } from '../dom.js';

export const CATEGORIES = [
  'antiques-collectibles', 'baby-kids', 'bikes', 'books-media', 'clothing-shoes', 'computers-phones',
  'electronics', 'furniture', 'garden-outdoor', 'health-beauty', 'home-kitchen', 'jewelry-watches',
  'music-instruments', 'pets', 'sports-leisure', 'tools-diy', 'toys-games', 'vehicles-parts',
  'office-business', 'other',
];
export const CONDITIONS = ['new', 'like-new', 'good', 'fair', 'for-parts'];
export const CURRENCIES = ['EUR', 'USD', 'GBP', 'CHF', 'SEK', 'NOK', 'DKK', 'PLN', 'CZK', 'HUF', 'JPY', 'CAD', 'AUD'];

/** "home-kitchen" -> "Home & kitchen" style labels for slugs. */
export function label(slug) {
  if (!slug) return '';
  const s = slug.replace(/-/g, ' ');
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** The price of a hit or listing summary as text: "Free", "from 48.00 €", "250.00 €". */
export function priceOf(x) {
  if (x.price_minor === null || x.price_minor === undefined) return 'Free';
  const p = money(x.price_minor, x.currency);
  return x.price_from ? `from ${p}` : p;
}

/** "★ 4.5 (3 reviews, 2 deals)" or "No reviews yet" from a Reputation. */
export function ratingText(rep) {
  if (!rep || !rep.reviews) return 'No reviews yet';
  const avg = rep.average_rating === null ? '–' : rep.average_rating.toFixed(1);
  return `★ ${avg} (${rep.reviews} review${rep.reviews === 1 ? '' : 's'}, ${rep.deals} deal${rep.deals === 1 ? '' : 's'})`;
}

/** "price: '1.999' is ..." shown under the price field reads "'1.999' is ...". */
export function tidy(err) {
  if (err && err.field && typeof err.message === 'string' && err.message.startsWith(`${err.field}: `)) {
    const rest = err.message.slice(err.field.length + 2);
    return { status: err.status, field: err.field, message: rest.charAt(0).toUpperCase() + rest.slice(1) };
  }
  return err;
}

const BASE32 = '0123456789bcdefghjkmnpqrstuvwxyz';

/** The centre of a geohash cell: {lat, lon}, or null for a malformed one. */
export function geohashCentre(gh) {
  if (!gh) return null;
  let lat = [-90, 90];
  let lon = [-180, 180];
  let even = true;
  for (const c of gh.toLowerCase()) {
    const v = BASE32.indexOf(c);
    if (v < 0) return null;
    for (let bit = 4; bit >= 0; bit--) {
      const r = even ? lon : lat;
      const mid = (r[0] + r[1]) / 2;
      if ((v >> bit) & 1) r[0] = mid; else r[1] = mid;
      even = !even;
    }
  }
  return { lat: (lat[0] + lat[1]) / 2, lon: (lon[0] + lon[1]) / 2 };
}

/** Great-circle distance in km. */
export function distanceKm(a, b) {
  const rad = Math.PI / 180;
  const dlat = (b.lat - a.lat) * rad;
  const dlon = (b.lon - a.lon) * rad;
  const s = Math.sin(dlat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dlon / 2) ** 2;
  return 2 * 6371 * Math.asin(Math.min(1, Math.sqrt(s)));
}

/** "LAT,LON" -> {lat, lon}, or null when it is not one. */
export function parsePoint(text) {
  const m = /^\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*$/.exec(text || '');
  if (!m) return null;
  const lat = parseFloat(m[1]);
  const lon = parseFloat(m[2]);
  if (lat < -90 || lat > 90 || lon < -180 || lon > 180) return null;
  return { lat, lon };
}

let homeCache = null;

/**
 * Where "home" is, and the home currency, as well as the UI can tell: the API does not say
 * (see the report), so the newest listing of the user's own (sold at the home location unless
 * they typed another) gives both, else the centre of the areas the node follows (around home)
 * and no currency. {point: {lat, lon} | null, currency: 'EUR' | null, how: text}
 */
export async function home() {
  if (homeCache) return homeCache;
  let point = null;
  let currency = null;
  let how = '';
  try {
    const id = await get('/v1/id');
    currency = id.currency || null;
    if (id.home) { point = { lat: id.home.lat, lon: id.home.lon }; how = 'your home location'; }
  } catch { /* fall through to the guesses below */ }
  if (!point) try {
    const { listings } = await get('/v1/mine');
    const mine = listings.find((l) => l.geohash);
    if (mine) { point = geohashCentre(mine.geohash); how = 'the place of your newest listing'; }
    const c = listings.find((l) => l.currency);
    if (c && !currency) currency = c.currency;
  } catch { /* fall through to the followed areas */ }
  if (!point) {
    try {
      const st = await get('/v1/status');
      const cells = (st.network && st.network.following && st.network.following.cells) || [];
      const pts = cells.map(geohashCentre).filter(Boolean);
      if (pts.length) {
        point = { lat: pts.reduce((s, p) => s + p.lat, 0) / pts.length, lon: pts.reduce((s, p) => s + p.lon, 0) / pts.length };
        how = 'the centre of the area your node follows';
      }
    } catch { /* no home known */ }
  }
  homeCache = { point, currency, how };
  return homeCache;
}

/** The thumbnail box of a card or list row: the first photo's thumbnail or a placeholder. */
export function thumbBox(x, cls = 'thumb') {
  return h('div', { class: cls },
    // A search answer carries the card thumbnails of the thumbnails this node holds
    // (`thumb_data`), so the page shows them at once; others come from /v1/blobs, which
    // fetches them from the network. Both card-size: the listing page shows the full ones.
    x.thumb_data
      ? h('img', { src: x.thumb_data, alt: x.title || 'Photo' })
      : x.thumb
      ? h('img', { src: `${blobUrl(x.thumb)}?listing=${encodeURIComponent(x.id)}&size=card`, alt: x.title || 'Photo', loading: 'lazy' })
      : h('span', { class: 'no-photo' }, 'No photo'));
}

/** One result card. */
export function card(hit, isNew) {
  const meta = [label(hit.condition)];
  if (hit.distance_km !== undefined && hit.distance_km !== null) meta.push(`${hit.distance_km} km`);
  if (hit.place) meta.push(hit.place);
  if (hit.ships) meta.push('ships');
  return h('li', { class: isNew ? 'card new' : 'card', dataset: { id: hit.id } },
    h('a', { href: `#/listing/${encodeURIComponent(hit.id)}` },
      thumbBox(hit),
      h('div', { class: 'body' },
        h('span', { class: 'price' }, priceOf(hit)),
        h('span', { class: 'title' }, hit.title),
        h('span', { class: 'meta' }, meta.filter(Boolean).join(' · ')),
        h('span', { class: 'meta rating' }, ratingText(hit.seller_reputation)),
        isNew ? h('span', { class: 'new-label' }, 'New') : null)));
}

const PAGE = 20;
const FILTER_KEYS = ['q', 'min_price', 'max_price', 'currency', 'category', 'condition', 'near', 'place', 'radius_km', 'min_rating', 'sort'];

/** The SearchQuery of the URL's filters; throws {field, message} for a filter it cannot read. */
async function queryOf(p) {
  const q = {};
  const text = (p.get('q') || '').trim();
  if (text) q.text = text;
  const hm = await home();
  const currency = p.get('currency') || hm.currency || 'EUR';
  const min = p.get('min_price');
  const max = p.get('max_price');
  if (min || max) {
    const lo = min ? toMinor(min, currency) : null;
    const hi = max ? toMinor(max, currency) : null;
    if (Number.isNaN(lo)) throw { field: 'min_price', message: `'${min}' is not a price (write it like 25 or 12.50)` };
    if (Number.isNaN(hi)) throw { field: 'max_price', message: `'${max}' is not a price (write it like 25 or 12.50)` };
    if (lo !== null && hi !== null && lo > hi) throw { field: 'min_price', message: 'the lowest price is above the highest' };
    q.price = { currency, min_minor: lo, max_minor: hi };
  }
  if (p.get('category')) q.category = p.get('category');
  if (p.get('condition')) q.condition = p.get('condition');
  const near = p.get('near');
  if (near === 'home' || near === 'place') {
    let point;
    if (near === 'home') {
      point = hm.point;
      if (!point) throw { field: 'near', message: 'your home location is not known here: type a place as LAT,LON' };
    } else {
      point = parsePoint(p.get('place'));
      if (!point) throw { field: 'place', message: 'write the place as LAT,LON, for example 52.52,13.40' };
    }
    const r = p.get('radius_km');
    q.near = { lat: point.lat, lon: point.lon, radius_km: r ? Number(r) : null };
    if (r && !(Number(r) > 0 && Number(r) <= 20038)) throw { field: 'radius_km', message: 'the distance must be between 0 and 20,038 km' };
  }
  if (p.get('min_rating')) q.min_rating = Number(p.get('min_rating'));
  return q;
}

function select(name, id, options, value, first) {
  return h('select', { name, id },
    first ? h('option', { value: '' }, first) : null,
    options.map(([v, t]) => h('option', { value: v, selected: v === value }, t)));
}

function field(id, text, control) {
  return h('div', { class: 'field' }, h('label', { for: id }, text, control));
}

export async function render(main, ctx) {
  const p = ctx.query;
  const hm = await home();
  const currency = p.get('currency') || hm.currency || 'EUR';
  const near = p.get('near') || '';
  const offset = Math.max(0, parseInt(p.get('offset') || '0', 10) || 0);
  const sort = p.get('sort') || 'relevance';

  // The search is sent before the form is built: the page is drawn while the node answers.
  let q = null;
  let badFilter = null;
  try {
    q = await queryOf(p);
  } catch (e) {
    if (!(e && e.field)) throw e;
    badFilter = e;
  }
  if (q && sort === 'nearest' && !q.near) {
    badFilter = { field: 'sort', message: 'sorting by distance needs "Distance from" home or a place' };
  }
  const search = () => post('/v1/search?thumbs=inline', { ...q, sort, limit: PAGE, offset });
  let first = badFilter ? null : search();
  // Answered after the page is drawn; its failure is shown by run(), not left unhandled.
  if (first) first.catch(() => {});

  const form = h('form', { class: 'filters stack', id: 'search-form', role: 'search', 'aria-label': 'Search listings', onsubmit: submit },
    h('div', { class: 'searchbar' },
      h('label', { for: 's-q', class: 'visually-hidden' }, 'Search for'),
      h('input', { type: 'search', name: 'q', 'data-field': 'text', id: 's-q', value: p.get('q') || '', placeholder: 'What are you looking for?', autocomplete: 'off' }),
      h('button', { type: 'submit', id: 's-go' }, 'Search')),
    h('div', { class: 'row' },
      field('s-min', 'Min price', h('input', { name: 'min_price', id: 's-min', inputmode: 'decimal', value: p.get('min_price') || '' })),
      field('s-max', 'Max price', h('input', { name: 'max_price', id: 's-max', inputmode: 'decimal', value: p.get('max_price') || '' })),
      field('s-cur', 'Currency', select('currency', 's-cur', [...new Set([currency, ...CURRENCIES])].map((c) => [c, c]), currency)),
      field('s-cat', 'Category', select('category', 's-cat', CATEGORIES.map((c) => [c, label(c)]), p.get('category') || '', 'Any category')),
      field('s-cond', 'Condition', select('condition', 's-cond', CONDITIONS.map((c) => [c, label(c)]), p.get('condition') || '', 'Any condition'))),
    h('div', { class: 'row' },
      field('s-near', 'Distance from', select('near', 's-near', [['home', 'Home'], ['place', 'A place (LAT,LON)']], near, 'Anywhere')),
      field('s-place', 'Place (LAT,LON)', h('input', { name: 'place', id: 's-place', value: p.get('place') || '', placeholder: '52.52,13.40' })),
      field('s-radius', 'Within (km)', h('input', { name: 'radius_km', id: 's-radius', type: 'number', min: '1', max: '20038', step: 'any', value: p.get('radius_km') || '' })),
      field('s-rating', 'Seller rating', select('min_rating', 's-rating', [['4', '4 stars and up'], ['3', '3 stars and up'], ['2', '2 stars and up']], p.get('min_rating') || '', 'Any')),
      field('s-sort', 'Sort by', select('sort', 's-sort', [['relevance', 'Best match'], ['newest', 'Newest'], ['price-asc', 'Price: low to high'], ['price-desc', 'Price: high to low'], ['nearest', 'Nearest']], p.get('sort') || 'relevance'))),
    near === 'home' && hm.how ? h('p', { class: 'muted small' }, `Home is taken from ${hm.how}.`) : null,
    h('div', { class: 'actions' },
      h('button', { type: 'button', class: 'secondary', id: 's-clear', onclick: () => ctx.go('search') }, 'Clear filters')));

  const status = h('p', { class: 'result-count', id: 'result-count', role: 'status', 'aria-live': 'polite' });
  const list = h('ul', { class: 'cards', id: 'results', 'aria-label': 'Results' });
  const pager = h('nav', { class: 'pager actions', 'aria-label': 'Result pages' });
  const saveForm = h('form', { class: 'save-search row', id: 'save-search', onsubmit: saveSearch },
    field('s-save-name', 'Name (optional)', h('input', { name: 'name', id: 's-save-name', maxlength: '64' })),
    h('div', {}, h('button', { type: 'submit', class: 'secondary', id: 's-save' }, 'Save this search')));

  mount(main,
    h('h1', {}, p.get('q') ? `Search: ${p.get('q')}` : 'Search listings'),
    form,
    h('div', { class: 'results-head' }, status, saveForm),
    list,
    pager);

  function submit(ev) {
    ev.preventDefault();
    const fd = new FormData(form);
    const query = {};
    for (const k of FILTER_KEYS) {
      const v = String(fd.get(k) || '').trim();
      if (v && !(k === 'sort' && v === 'relevance')) query[k] = v;
    }
    if (query.currency === (hm.currency || 'EUR') && !query.min_price && !query.max_price) delete query.currency;
    if (!query.near) { delete query.place; delete query.radius_km; }
    if (query.near === 'home') delete query.place;
    ctx.go('search', null, query);
  }

  if (badFilter) {
    showError(form, badFilter);
    if (badFilter.field !== 'sort') status.textContent = 'Fix the filter to search.';
    return undefined;
  }

  let shown = null; // ids on the page: null before the first run, so nothing is marked new
  let seq = 0;
  async function run() {
    const mine = ++seq;
    let r;
    try {
      // The first run takes the request sent before the page was drawn.
      const pending = first || search();
      first = null;
      r = await pending;
    } catch (e) {
      if (mine !== seq) return;
      showError(form, tidy(e));
      status.textContent = 'The search failed.';
      return;
    }
    if (mine !== seq) return;
    const before = shown;
    shown = new Set(r.hits.map((x) => x.id));
    mount(list, r.hits.map((x) => card(x, before !== null && !before.has(x.id))));
    const total = r.total_exact ? r.total.toLocaleString() : `${r.total.toLocaleString()}+`;
    const filtered = Object.keys(q).length > 0;
    if (r.hits.length === 0) {
      mount(status, filtered
        ? h('span', { class: 'no-results' }, 'No listings match. Try fewer words or wider filters.')
        : h('span', { class: 'no-results' }, 'No listings yet. New listings from your peers show up here as they arrive.'));
    } else {
      mount(status,
        r.corrected ? h('span', {}, 'Showing results for ', h('strong', {}, r.corrected), '. ') : null,
        `${total} result${r.total === 1 ? '' : 's'}`,
        r.total > PAGE ? ` · ${offset + 1}–${offset + r.hits.length}` : '');
    }
    const query = Object.fromEntries(p.entries());
    mount(pager,
      offset > 0 ? h('a', { class: 'button secondary', href: ctx.link('search', null, { ...query, offset: Math.max(0, offset - PAGE) || '' }) }, 'Previous page') : null,
      offset + r.hits.length < r.total ? h('a', { class: 'button secondary', href: ctx.link('search', null, { ...query, offset: offset + PAGE }) }, 'Next page') : null);
  }

  async function saveSearch(ev) {
    ev.preventDefault();
    clearErrors(saveForm);
    const name = saveForm.elements.name.value.trim();
    try {
      const saved = await post('/v1/watches', name ? { query: q, name } : { query: q });
      notice(`Saved "${saved.name}": new matches appear under Alerts.`);
      saveForm.elements.name.value = '';
    } catch (e) {
      // The API names `text` for a query without words: that is the search box, in the other form.
      if (e.field && e.field !== 'name') { e.field = null; }
      showError(saveForm, tidy(e));
    }
  }

  await run();
  let timer = null;
  ctx.on('listing', () => {
    clearTimeout(timer);
    timer = setTimeout(run, 300);
  });
  return () => clearTimeout(timer);
}
