// The browser side of `cargo bench -p swapmeet-node --bench ui` (node/benches/ui.rs): the
// search page of a large node, timed from the request to the page fully rendered (20 result
// cards with every thumbnail decoded), in Debian's Chromium. Environment: LOGIN_URL, CHROMIUM,
// ROUNDS, WARMUP (0 skips the untimed round), TRACE (a file for a Chromium trace).

import { chromium } from 'playwright-core';

const QUERIES = [
  'bike', 'road bike', 'sofa', 'table', 'desk', 'chair', 'camera', 'laptop', 'jacket', 'vintage',
  'black', 'wireless', 'kids', 'speaker', 'monitor', 'sneakers', 'city bike', 'folding', 'retro', 'large',
];
const FILTERS = ['', '&max_price=300', '&near=home&radius_km=20', '&condition=good', '&sort=price-asc'];

const rounds = Number(process.env.ROUNDS || 5);
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM, args: ['--no-sandbox'] });
const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
const page = await context.newPage();
// TRACE=FILE records a Chromium trace of the timed searches (each between the user timing
// marks `search-N-start` and `search-N-end`), to see where a slow one's time went.
const TRACE = process.env.TRACE;
await page.goto(process.env.LOGIN_URL);
await page.waitForURL((u) => u.pathname === '/');
await page.waitForSelector('main h1');

// Measured in the page: from the hash change (the request for a search) until 20 cards are on
// the page and each of their thumbnails has loaded and decoded.
async function one(hash, mark = null) {
  return page.evaluate(([h, m]) => new Promise((resolve, reject) => {
    performance.clearResourceTimings();
    performance.setResourceTimingBufferSize(1000);
    if (m) performance.mark(`${m}-start`);
    const t0 = performance.now();
    const deadline = t0 + 30000;
    location.hash = h;
    const tick = () => {
      const cards = document.querySelectorAll('#results .card');
      const imgs = [...document.querySelectorAll('#results .card img')];
      if (cards.length >= 20 && imgs.length >= 20 && imgs.every((i) => i.complete && i.naturalWidth > 0)) {
        const done = performance.now();
        if (m) performance.mark(`${m}-end`);
        const entries = performance.getEntriesByType('resource').filter((e) => e.startTime >= t0);
        const search = entries.filter((e) => e.name.includes('/v1/search'));
        const blobs = entries.filter((e) => e.name.includes('/v1/blobs/'));
        const others = entries.filter((e) => !e.name.includes('/v1/search') && !e.name.includes('/v1/blobs/')).map((e) => new URL(e.name).pathname);
        resolve({
          ms: done - t0,
          cards: cards.length,
          search: search.length ? search[search.length - 1].responseEnd - search[search.length - 1].startTime : null,
          searchEnd: search.length ? search[search.length - 1].responseEnd - t0 : null,
          blobsEnd: blobs.length ? Math.max(...blobs.map((e) => e.responseEnd)) - t0 : 0,
          blobs: blobs.length,
          others,
        });
      } else if (performance.now() > deadline) {
        reject(new Error(`${h}: ${cards.length} cards, ${imgs.filter((i) => i.complete).length} thumbnails after 30 s`));
      } else {
        requestAnimationFrame(tick);
      }
    };
    requestAnimationFrame(tick);
  }), [hash, mark]);
}

// One untimed round first: it warms the node's page cache and makes the card thumbnails of a
// home kept from before they existed (a running node makes them when it fetches a thumbnail).
for (const [i, q] of QUERIES.entries()) {
  if (Number(process.env.WARMUP ?? 1) > 0) await one(`#/search?q=${encodeURIComponent(q)}${FILTERS[i % FILTERS.length]}&warm=${i}`);
}

const times = [];
const slowest = [];
const searchMs = [];
const searchEnd = [];
const blobsEnd = [];
const otherCalls = {};
let blobCount = 0;
let n = 0;
if (TRACE) {
  await browser.startTracing(page, {
    path: TRACE,
    categories: ['devtools.timeline', 'v8', 'v8.execute', 'blink', 'blink.user_timing', 'loading',
      'disabled-by-default-v8.gc', 'disabled-by-default-devtools.timeline', 'cc', 'gpu'],
  });
}
for (let r = 0; r < rounds; r++) {
  for (const q of QUERIES) {
    const f = FILTERS[n % FILTERS.length];
    // A query parameter that changes every time, so the page never reuses a previous render.
    const res = await one(`#/search?q=${encodeURIComponent(q)}${f}&r=${n}`, TRACE ? `search-${n}` : null);
    times.push(res.ms);
    slowest.push({ q, f, n, ms: res.ms, search: res.search });
    if (res.search !== null) { searchMs.push(res.search); searchEnd.push(res.searchEnd); }
    blobsEnd.push(res.blobsEnd);
    blobCount += res.blobs;
    for (const o of res.others) otherCalls[o] = (otherCalls[o] || 0) + 1;
    n++;
  }
}
if (TRACE) await browser.stopTracing();
// Where a thumbnail's time goes: the same 20 thumbnails fetched one at a time (the node's
// own latency), then all at once (what the browser's six connections per host make of it).
const probe = await page.evaluate(async () => {
  // Thumbnails that came inline with the answer (data: URLs) need no request.
  const urls = [...document.querySelectorAll('#results .card img')].map((i) => i.src).filter((u) => u.startsWith('http')).slice(0, 20);
  if (!urls.length) return null;
  const one = [];
  for (const u of urls) {
    const t = performance.now();
    await (await fetch(u, { cache: 'no-store' })).arrayBuffer();
    one.push(performance.now() - t);
  }
  const t = performance.now();
  await Promise.all(urls.map(async (u) => (await fetch(u, { cache: 'no-store' })).arrayBuffer()));
  one.sort((a, b) => a - b);
  return { n: urls.length, p50: one[Math.floor(one.length / 2)], max: one[one.length - 1], all: performance.now() - t };
});
if (probe) console.log(`  thumbnails of one page fetched one by one: p50 ${probe.p50.toFixed(1)} ms, max ${probe.max.toFixed(1)} ms each; all ${probe.n} at once: ${probe.all.toFixed(1)} ms`);
else console.log('  the last page\'s thumbnails all came inline with the search answer (no thumbnail request)');

// Also a cold start: a new page loading the UI and the search at once (modules, styles, API).
const cold = [];
for (let i = 0; i < 10; i++) {
  const p2 = await context.newPage();
  const t0 = Date.now();
  await p2.goto(`${new URL(page.url()).origin}/#/search?q=${encodeURIComponent(QUERIES[i])}`);
  await p2.waitForSelector('#results .card:nth-child(20) img');
  for (;;) {
    const ok = await p2.evaluate(() => {
      const imgs = [...document.querySelectorAll('#results .card img')];
      return imgs.length >= 20 && imgs.every((i) => i.complete && i.naturalWidth > 0);
    });
    if (ok) break;
    await new Promise((r) => setTimeout(r, 5));
  }
  cold.push(Date.now() - t0);
  await p2.close();
}
await browser.close();

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.round((s.length - 1) * p))];
};
console.log(`search page, in-app search (hash change -> 20 cards with thumbnails decoded), ${times.length} searches over ${QUERIES.length} queries x ${FILTERS.length} filter sets: p50 ${pct(times, 0.5).toFixed(1)} ms, p99 ${pct(times, 0.99).toFixed(1)} ms, max ${Math.max(...times).toFixed(1)} ms`);
slowest.sort((a, b) => b.ms - a.ms);
console.log(`  the five slowest: ${slowest.slice(0, 5).map((x) => `#${x.n} "${x.q}"${x.f || ' (no filter)'} ${x.ms.toFixed(1)} ms (request ${x.search === null ? '?' : x.search.toFixed(1)} ms)`).join('; ')}`);
console.log(`  of which: the POST /v1/search request p50 ${pct(searchMs, 0.5).toFixed(1)} ms, p99 ${pct(searchMs, 0.99).toFixed(1)} ms; its answer in p50 ${pct(searchEnd, 0.5).toFixed(1)} ms after the hash change; the last thumbnail in p50 ${pct(blobsEnd, 0.5).toFixed(1)} ms, p99 ${pct(blobsEnd, 0.99).toFixed(1)} ms; ${blobCount} thumbnail requests (the rest from the browser's cache); other requests: ${JSON.stringify(otherCalls)}`);
console.log(`search page, cold load of a new tab (page, modules, search, thumbnails), ${cold.length} loads: p50 ${pct(cold, 0.5)} ms, p99 ${pct(cold, 0.99)} ms (includes playwright's polling, 5 ms)`);
