// The web UI driven in Debian's Chromium by playwright-core, as a user would use it
// (cli/tests/suite/browser_ui.rs starts the nodes and runs this). Usage: node e2e.mjs SCENARIO, with
// CHROMIUM, SHOTS (screenshot folder) and the scenario's login links in the environment.
//
//   trade     SELLER_URL, BUYER_URL, PHOTO: sell with a photo on the seller's node, find it on
//             the buyer's node with filters, open it, offer, accept on the seller's side, both
//             see the deal; axe-core on every page; screenshots.
//   refusals  SELLER_URL, API: an invalid price shown next to its field; a page of another
//             origin and a rebound host name refused.
//
// Every step waits on what the user would see (with a deadline), never on a fixed sleep.

import { chromium } from 'playwright-core';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const PATIENCE = 90_000;
const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};

function step(name) {
  console.log(`step: ${name}`);
}

function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
}

/** A logged-in page for one node; fails the run on any script error or CSP violation. */
async function open(browser, loginUrl, viewport = { width: 1280, height: 900 }) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  page.setDefaultTimeout(PATIENCE);
  page.problems = [];
  page.on('pageerror', (e) => page.problems.push(`script error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) page.problems.push(`console: ${m.text()}`);
  });
  const res = await page.goto(loginUrl);
  check(res.status() === 200, `the login link answered ${res.status()}`);
  await page.waitForURL((u) => u.pathname === '/');
  await page.waitForSelector('main h1');
  return page;
}

function clean(page) {
  check(page.problems.length === 0, `no script errors or CSP violations:\n${page.problems.join('\n')}`);
}

async function go(page, hash) {
  // Setting the hash the page already has changes nothing (no hashchange), so a page polled
  // for news would never be drawn again: reload it instead (the session cookie stays).
  if (await page.evaluate((h) => location.hash === h, hash)) await page.reload();
  else await page.evaluate((h) => { location.hash = h; }, hash);
  await waitIn(page, (h) => location.hash === h, hash);
  await page.waitForSelector('main h1');
  await waitIn(page, () => !document.querySelector('main .loading'));
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(env('SHOTS'), `${name}.png`), fullPage: true });
}

/** axe-core in the page (evaluated through the DevTools protocol, which the page's CSP does
 * not govern): no serious or critical violation. */
async function axe(page, what) {
  await page.evaluate(AXE);
  const bad = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.impact} ${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join(', ')})`);
  });
  check(bad.length === 0, `axe on ${what}:\n${bad.join('\n')}`);
}

/** Waits until `fn(arg)`, run in the page, is truthy. (Playwright's own waitForFunction
 * evaluates a string inside the page, which the UI's CSP rightly forbids.) */
async function waitIn(page, fn, arg) {
  const end = Date.now() + PATIENCE;
  for (;;) {
    const v = await page.evaluate(fn, arg);
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting in the page for ${fn}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

/** Polls `fn` until it returns a truthy value; `what` names it when time runs out. */
async function until(what, fn, every = 1000) {
  const end = Date.now() + PATIENCE;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, every));
  }
}

const TITLE = 'Road bike, 56 cm steel frame';

async function trade(browser) {
  const seller = await open(browser, env('SELLER_URL'));
  const buyer = await open(browser, env('BUYER_URL'));

  step('the seller lists a road bike with a photo');
  await go(seller, '#/sell');
  await seller.getByLabel('Title').fill(TITLE);
  await seller.getByLabel('Price', { exact: false }).first().fill('250');
  await seller.getByLabel('Description').fill('Serviced last month, new tyres. Pickup in Kreuzberg.');
  await seller.getByLabel('Condition').selectOption('good');
  await seller.getByLabel('Category').selectOption('bikes');
  await seller.locator('input[type=file]').setInputFiles(env('PHOTO'));
  // The preview shows at once; the upload finishes before publishing is possible.
  await waitIn(seller, () => {
    const imgs = [...document.querySelectorAll('.previews img')];
    return imgs.length === 1 && imgs[0].complete && imgs[0].naturalWidth > 0;
  });
  await waitIn(seller, () => document.querySelectorAll('#sell-previews li.photo.ready').length === 1);
  await shot(seller, 'sell-with-photo');
  await seller.getByRole('button', { name: 'Publish listing' }).click();
  await waitIn(seller, () => location.hash.startsWith('#/listing/'));
  const listing = decodeURIComponent((await seller.evaluate(() => location.hash)).split('/')[2]);
  await seller.waitForSelector('main h1');
  check((await seller.textContent('main h1')).includes(TITLE), 'the new listing page shows its title');
  await shot(seller, 'listing-own');

  step('the buyer finds it with filters: not under 200 EUR, not within 1 km, found under 300 EUR within 20 km');
  await go(buyer, '#/search');
  const search = async (max, km) => {
    await buyer.locator('#s-q').fill('road bike');
    await buyer.locator('#s-max').fill(String(max));
    await buyer.locator('#s-near').selectOption('home');
    await buyer.locator('#s-radius').fill(String(km));
    await buyer.locator('#s-go').click();
    // The filters go into the address, so a reload or a shared link keeps them.
    await waitIn(buyer, ([m, r]) => {
      const q = new URLSearchParams(location.hash.split('?')[1] || '');
      return q.get('max_price') === m && q.get('radius_km') === r && q.get('near') === 'home';
    }, [String(max), String(km)]);
    await waitIn(buyer, () => !!document.querySelector('#result-count'));
  };
  const card = buyer.locator('.card', { hasText: TITLE });
  await until('the listing to reach the buyer and match "road bike" under 300 EUR within 20 km', async () => {
    await search(300, 20);
    return (await card.count()) === 1;
  }, 2000);
  await search(200, 20);
  await until('the 200 EUR filter to leave it out', async () => (await card.count()) === 0);
  await search(300, 1);
  await until('the 1 km filter to leave it out (it is 3.4 km away)', async () => (await card.count()) === 0);
  await search(300, 20);
  await until('the card again', async () => (await card.count()) === 1);
  // The card shows its thumbnail (fetched from the seller's node), price and condition.
  await waitIn(buyer, (t) => {
    const c = [...document.querySelectorAll('.card')].find((e) => e.textContent.includes(t));
    const img = c && c.querySelector('img');
    return img && img.complete && img.naturalWidth > 0;
  }, TITLE);
  const cardText = await card.textContent();
  check(/250/.test(cardText), `the card shows the price: ${cardText}`);
  // At card size (256 px on the long edge), not the listing's 320 px thumbnail.
  const cardWidth = await card.locator('img').evaluate((i) => i.naturalWidth);
  check(cardWidth === 256, `the card's picture is card size: ${cardWidth} px wide`);
  await shot(buyer, 'search');
  await buyer.setViewportSize({ width: 390, height: 844 });
  await shot(buyer, 'search-phone');
  await buyer.setViewportSize({ width: 1280, height: 900 });

  step('the buyer opens it and makes an offer');
  await card.getByRole('link').first().click();
  await waitIn(buyer, (id) => location.hash === `#/listing/${id}`, listing);
  await buyer.waitForSelector('main h1');
  await waitIn(buyer, () => {
    const img = document.querySelector('#main-photo img, img#main-photo');
    return img && img.complete && img.naturalWidth > 0;
  });
  await shot(buyer, 'listing');
  await buyer.locator('#offer-price').fill('230');
  await buyer.locator('#offer-send').click();
  await waitIn(buyer, () => location.hash.startsWith('#/offers/'));
  await buyer.waitForSelector('main h1');
  await shot(buyer, 'offer-sent');

  step('the seller sees the offer and accepts it');
  await go(seller, '#/offers');
  const row = seller.locator('#negotiations a', { hasText: TITLE }).first();
  await until('the offer to reach the seller', async () => {
    if ((await row.count()) > 0) return true;
    await go(seller, '#/offers');
    return false;
  }, 2000);
  await row.click();
  await waitIn(seller, () => location.hash.startsWith('#/offers/'));
  await shot(seller, 'offer-received');
  await waitIn(seller, () => /your turn/i.test(document.querySelector('#negotiation-state')?.textContent || ''));
  await seller.locator('#accept-button').click();
  await seller.waitForSelector('#deal-made');

  step('both see the deal');
  for (const [who, page] of [['seller', seller], ['buyer', buyer]]) {
    await until(`the deal on the ${who}'s deals list`, async () => {
      await go(page, '#/offers');
      const deal = page.locator('#deals li.deal', { hasText: TITLE });
      return (await deal.count()) === 1 && /confirmed/.test(await deal.locator('.deal-state').textContent());
    }, 2000);
    await shot(page, `deal-${who}`);
  }

  step('the buyer reviews the seller, and the seller sees it');
  await go(buyer, '#/offers');
  const form = buyer.locator('form.review-form').first();
  await form.locator('[name=rating]').selectOption('5');
  await form.locator('[name=text]').fill('Bike as described, friendly pickup.');
  await form.getByRole('button', { name: 'Post review' }).click();
  await until('the review on the seller\'s page', async () => {
    await go(seller, '#/offers');
    const got = seller.locator('#reviews-received');
    return (await got.count()) > 0 && (await got.textContent()).includes('friendly pickup');
  }, 2000);
  await shot(seller, 'review-received');

  step('axe-core on every page');
  const pages = ['#/search?q=road+bike', `#/listing/${listing}`, '#/sell', '#/mine', '#/inbox', '#/offers', '#/alerts', '#/node'];
  for (const hash of pages) {
    await go(seller, hash);
    await axe(seller, `${hash} (seller)`);
    await shot(seller, `page-${hash.slice(2).split(/[/?]/)[0]}`);
  }
  await go(buyer, `#/listing/${listing}`);
  await axe(buyer, 'the listing page (buyer)');
  clean(seller);
  clean(buyer);
}

async function refusals(browser) {
  const page = await open(browser, env('SELLER_URL'));
  const api = env('API');

  step('an invalid price is shown next to the price field, and nothing is listed');
  await go(page, '#/sell');
  await page.getByLabel('Title').fill('Oak dining table');
  const price = page.getByLabel('Price', { exact: false }).first();
  await price.fill('twelve euros');
  await page.getByRole('button', { name: 'Publish listing' }).click();
  await waitIn(page, () => !!document.querySelector('[name=price][aria-invalid=true]'));
  const err = await page.evaluate(() => {
    const input = document.querySelector('[name=price]');
    const note = document.getElementById(input.getAttribute('aria-describedby'));
    const label = input.closest('label, .field') || input;
    return { text: note && note.textContent, next: label.nextElementSibling === note };
  });
  check(err.text && /price/i.test(err.text), `the error names the price: ${JSON.stringify(err)}`);
  check(err.next, 'the error sits right after the price field');
  check(await page.evaluate(() => location.hash === '#/sell'), 'the form stays open');
  await axe(page, 'the sell form with an error');
  await shot(page, 'sell-invalid-price');

  step('a page of another origin (another port of 127.0.0.1: the same site) cannot sell');
  const evil = createServer((req, res) => {
    res.setHeader('Content-Type', 'text/html');
    res.end(`<!doctype html><title>evil</title><form id=f method=post enctype="text/plain" action="http://${api}/v1/listings"><input name='{"title":"Spam","price":"1","x":"' value='"}'></form>`);
  });
  await new Promise((r) => evil.listen(0, '127.0.0.1', r));
  const evilUrl = `http://127.0.0.1:${evil.address().port}/`;
  const other = await page.context().newPage();
  await other.goto(evilUrl);
  const [answer] = await Promise.all([
    other.waitForNavigation(),
    other.evaluate(() => document.getElementById('f').submit()),
  ]);
  const body = await other.textContent('body');
  check(answer.status() === 403, `the foreign form's POST answered ${answer.status()}: ${body}`);
  check(/cross-origin request refused/.test(body), `the refusal says why: ${body}`);
  evil.close();

  step('a rebound host name reaches nothing');
  const port = api.split(':').pop();
  const rebound = await browser.newContext();
  const rp = await rebound.newPage();
  for (const p of ['/', '/v1/id', '/ui/app.js']) {
    const r = await rp.goto(`http://rebind.test:${port}${p}`);
    check(r.status() === 421, `http://rebind.test:${port}${p} answered ${r.status()}`);
  }
  clean(page);
}

const scenario = process.argv[2];
const browser = await chromium.launch({
  executablePath: env('CHROMIUM'),
  // The sandbox needs user namespaces CI containers do not give; the pages are our own.
  // The resolver rule plays the attacker's DNS for the rebinding check.
  args: ['--no-sandbox', '--host-resolver-rules=MAP rebind.test 127.0.0.1'],
});
try {
  if (scenario === 'trade') await trade(browser);
  else if (scenario === 'refusals') await refusals(browser);
  else throw new Error(`unknown scenario ${scenario}`);
  console.log(`scenario ${scenario}: passed`);
} catch (e) {
  console.error(e.stack || String(e));
  process.exitCode = 1;
} finally {
  await browser.close();
}
