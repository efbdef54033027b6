// One listing: photos, facts, description, the seller's reputation and reviews, and the
// actions: offer, message, watch (someone else's) or edit, renew, mark sold, withdraw (yours).

import { get, post, blobUrl } from '../api.js';
import { h, mount, when, short, showError, clearErrors, notice, money } from '../dom.js';
import { label, priceOf, ratingText, geohashCentre, distanceKm, home, tidy } from './search.js';

const photoUrl = (hash, id) => `${blobUrl(hash)}?listing=${encodeURIComponent(id)}`;

function gallery(l) {
  const images = l.images || [];
  if (!images.length) return h('div', { class: 'gallery' }, h('div', { class: 'main-photo no-photo-big' }, 'No photos'));
  const mainImg = h('img', { src: photoUrl(images[0].hash, l.id), alt: `${l.title}, photo 1 of ${images.length}`, id: 'main-photo' });
  const mainLink = h('a', { href: photoUrl(images[0].hash, l.id), class: 'main-photo', id: 'main-photo-link', title: 'Open the photo full size' }, mainImg);
  const buttons = images.map((img, i) => h('button', {
    type: 'button',
    class: i === 0 ? 'strip-thumb current' : 'strip-thumb',
    'aria-label': `Show photo ${i + 1} of ${images.length}`,
    'aria-pressed': i === 0 ? 'true' : 'false',
    onclick: (ev) => {
      mainImg.src = photoUrl(img.hash, l.id);
      mainImg.alt = `${l.title}, photo ${i + 1} of ${images.length}`;
      mainLink.href = photoUrl(img.hash, l.id);
      for (const b of ev.currentTarget.parentNode.children) { b.classList.remove('current'); b.setAttribute('aria-pressed', 'false'); }
      ev.currentTarget.classList.add('current');
      ev.currentTarget.setAttribute('aria-pressed', 'true');
    },
  }, h('img', { src: photoUrl(img.thumb ? img.thumb.hash : img.hash, l.id), alt: '' })));
  return h('div', { class: 'gallery' },
    mainLink,
    images.length > 1 ? h('div', { class: 'strip' }, buttons) : null,
    h('p', { class: 'muted small' }, 'Click the photo to open it full size.'));
}

function fact(term, value) {
  if (value === null || value === undefined || value === '') return null;
  return [h('dt', {}, term), h('dd', {}, value)];
}

function reviewList(rv) {
  if (!rv || !rv.reviews.length) return h('p', { class: 'muted' }, 'No reviews of this seller yet.');
  return h('ul', { class: 'plain reviews', id: 'seller-reviews' }, rv.reviews.map((r) => h('li', { class: 'panel review' },
    h('div', {}, h('strong', {}, `${'★'.repeat(r.rating)}${'☆'.repeat(5 - r.rating)}`, h('span', { class: 'visually-hidden' }, ` ${r.rating} of 5`)),
      ' ', h('span', { class: 'muted' }, `${when(r.written_at)} · by ${short(r.by)}`)),
    r.text ? h('p', {}, r.text) : null,
    r.amount_minor !== undefined && r.amount_minor !== null ? h('p', { class: 'muted small' }, `Deal: ${money(r.amount_minor, r.currency)}`) : null)));
}

function offerForm(l, ctx) {
  const form = h('form', { class: 'stack panel', id: 'offer-form', 'aria-labelledby': 'offer-h', onsubmit: async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    const body = { listing: l.id, price: form.elements.price.value.trim() };
    const qty = form.elements.quantity ? parseInt(form.elements.quantity.value, 10) : 1;
    if (qty && qty !== 1) body.quantity = qty;
    const msg = form.elements.message.value.trim();
    if (msg) body.message = msg;
    const btn = form.querySelector('button[type=submit]');
    btn.disabled = true;
    try {
      const n = await post('/v1/offers', body);
      notice('Offer sent.');
      ctx.go('offers', n.thread);
    } catch (e) {
      showError(form, tidy(e));
    } finally {
      btn.disabled = false;
    }
  } },
  h('h2', { id: 'offer-h' }, 'Make an offer'),
  h('label', {}, `Your offer (${l.currency}, for the whole quantity)`,
    h('input', { name: 'price', id: 'offer-price', inputmode: 'decimal', required: true, autocomplete: 'off', placeholder: `asking ${l.price}` })),
  l.quantity > 1 ? h('label', {}, 'Quantity', h('input', { name: 'quantity', id: 'offer-quantity', type: 'number', min: '1', max: String(l.quantity), value: '1' })) : null,
  h('label', {}, 'Message (optional)', h('textarea', { name: 'message', id: 'offer-message', rows: '3' })),
  h('div', { class: 'actions' }, h('button', { type: 'submit', id: 'offer-send' }, 'Send offer')));
  return form;
}

function messageForm(l, ctx) {
  const form = h('form', { class: 'stack panel', id: 'message-form', 'aria-labelledby': 'message-h', onsubmit: async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    const btn = form.querySelector('button[type=submit]');
    btn.disabled = true;
    try {
      const r = await post('/v1/messages', { listing: l.id, text: form.elements.text.value });
      notice('Message queued for the seller.');
      ctx.go('inbox', r.thread);
    } catch (e) {
      showError(form, tidy(e));
    } finally {
      btn.disabled = false;
    }
  } },
  h('h2', { id: 'message-h' }, 'Message the seller'),
  h('label', {}, 'Your message', h('textarea', { name: 'text', id: 'message-text', rows: '3', required: true, maxlength: '2000' })),
  h('div', { class: 'actions' }, h('button', { type: 'submit', id: 'message-send' }, 'Send message')));
  return form;
}

/** The owner's actions (also used by the my-listings page): renew, mark sold, withdraw with a confirmation. */
export function ownerActions(l, ctx, after) {
  const box = h('div', { class: 'actions owner-actions' });
  const active = l.status === 'active' || l.status === 'expired';
  async function act(btn, path, body, done) {
    btn.disabled = true;
    try {
      await post(path, body);
      notice(done);
      await after();
    } catch (e) {
      btn.disabled = false;
      notice(String(e.message || e), 'error');
    }
  }
  const edit = l.status === 'active' ? h('a', { class: 'button secondary', href: ctx.link('sell', l.id), 'aria-label': `Edit ${l.title}` }, 'Edit') : null;
  const renew = active ? h('button', { type: 'button', class: 'secondary', 'data-action': 'renew', 'aria-label': `Renew ${l.title}`,
    onclick: (ev) => act(ev.currentTarget, `/v1/listings/${encodeURIComponent(l.id)}/renew`, {}, 'Renewed for 30 days.') }, 'Renew') : null;
  const sold = active ? h('button', { type: 'button', class: 'secondary', 'data-action': 'sold', 'aria-label': `Mark ${l.title} as sold`,
    onclick: (ev) => act(ev.currentTarget, `/v1/listings/${encodeURIComponent(l.id)}/withdraw`, { reason: 'sold' }, 'Marked as sold.') }, 'Mark sold') : null;
  const confirmBox = h('span', { class: 'confirm', hidden: true, role: 'group', 'aria-label': 'Confirm withdrawal' },
    h('span', {}, 'Take it off the market? '),
    h('button', { type: 'button', class: 'danger', 'data-action': 'confirm-withdraw',
      onclick: (ev) => act(ev.currentTarget, `/v1/listings/${encodeURIComponent(l.id)}/withdraw`, { reason: 'withdrawn' }, 'Withdrawn.') }, 'Yes, withdraw'),
    h('button', { type: 'button', class: 'secondary', 'data-action': 'cancel-withdraw',
      onclick: () => { confirmBox.hidden = true; withdraw.hidden = false; withdraw.focus(); } }, 'Cancel'));
  const withdraw = h('button', { type: 'button', class: 'secondary', 'data-action': 'withdraw', 'aria-label': `Withdraw ${l.title}`,
    onclick: () => { withdraw.hidden = true; confirmBox.hidden = false; confirmBox.querySelector('button').focus(); } }, 'Withdraw');
  mount(box, edit, renew, sold, active ? [withdraw, confirmBox] : null);
  return box;
}

export async function render(main, ctx) {
  const id = ctx.arg;
  if (!id) { ctx.go('search'); return undefined; }

  async function load() {
    let l;
    try {
      l = await get(`/v1/listings/${encodeURIComponent(id)}`);
    } catch (e) {
      if (e.status === 404 || e.status === 400) {
        mount(main, h('section', { class: 'message' }, h('h1', {}, 'Listing not found'),
          h('p', {}, e.message), h('p', {}, h('a', { href: '#/search' }, 'Back to search'))));
        return;
      }
      throw e;
    }
    const mine = ctx.me && l.seller === ctx.me.seller;
    if (!l.title && (l.status === 'sold' || l.status === 'withdrawn')) {
      // A withdrawal replaces the listing and carries none of its fields.
      const rv = await get(`/v1/reviews?about=${encodeURIComponent(l.seller)}&limit=20`).catch(() => null);
      mount(main,
        h('p', { class: 'crumbs' }, h('a', { href: '#/search' }, '← Back to search')),
        h('h1', { id: 'listing-title' }, l.status === 'sold' ? 'This item was sold' : 'This listing was withdrawn'),
        h('p', {}, h('span', { class: `state ${l.status}` }, l.status), ' ', when(l.signed_at)),
        h('section', { class: 'panel seller', 'aria-labelledby': 'seller-h' },
          h('h2', { id: 'seller-h' }, mine ? 'You are the seller' : 'Seller'),
          h('p', {}, h('span', { title: l.seller, class: 'mono' }, short(l.seller, 12))),
          h('p', { id: 'seller-rating' }, ratingText(rv ? rv.reputation : l.seller_reputation))),
        h('section', { 'aria-labelledby': 'reviews-h' }, h('h2', { id: 'reviews-h' }, 'Reviews of the seller'), reviewList(rv)));
      return;
    }
    const [rv, hm] = await Promise.all([
      get(`/v1/reviews?about=${encodeURIComponent(l.seller)}&limit=20`).catch(() => null),
      home(),
    ]);
    const here = geohashCentre(l.geohash);
    const dist = here && hm.point && !mine ? `${distanceKm(hm.point, here).toFixed(1)} km from home` : null;
    const delivery = l.delivery
      ? [l.delivery.pickup ? 'Pickup' : null, l.delivery.shipping ? `Shipping${l.delivery.ships_to && l.delivery.ships_to.length ? ` to ${l.delivery.ships_to.join(', ')}` : ''}` : null].filter(Boolean).join(', ')
      : null;
    const rep = rv ? rv.reputation : l.seller_reputation;
    const status = l.status || 'active';
    const active = status === 'active';
    const facts = h('dl', { class: 'facts', id: 'listing-facts' },
      fact('Condition', label(l.condition)),
      fact('Category', l.category && h('a', { href: ctx.link('search', null, { category: l.category }) }, label(l.category))),
      fact('Quantity', l.quantity > 1 ? String(l.quantity) : null),
      fact('Location', [l.place, dist].filter(Boolean).join(' · ') || (l.geohash ? `area ${l.geohash}` : null)),
      fact('Delivery', delivery),
      fact('Tags', l.tags && l.tags.length ? l.tags.join(', ') : null),
      fact(active ? 'Expires' : 'Expired', when(l.expires_at)),
      fact('Listed', when(l.signed_at)));
    const variants = l.variants && l.variants.length ? h('table', { class: 'variants' },
      h('caption', {}, 'Variants'),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Options'), h('th', { scope: 'col' }, 'Price'), h('th', { scope: 'col' }, 'In stock'))),
      h('tbody', {}, l.variants.map((v) => h('tr', {},
        h('td', {}, v.options.map((o) => `${o.name}: ${o.value}`).join(', ')),
        h('td', {}, v.price),
        h('td', {}, v.in_stock ? String(v.quantity) : 'Out of stock'))))) : null;

    let actions;
    if (mine) {
      actions = h('section', { class: 'panel', 'aria-labelledby': 'own-h' },
        h('h2', { id: 'own-h' }, 'Your listing'),
        h('p', {}, 'State: ', h('span', { class: `state ${status}` }, status)),
        ownerActions({ ...l, status }, ctx, load));
    } else if (!active) {
      actions = h('p', { class: 'panel' }, `This listing is ${status}.`);
    } else {
      const canOffer = l.price_minor !== null && l.price_minor !== undefined && !(l.variants && l.variants.length);
      actions = h('div', { class: 'stack' },
        canOffer ? offerForm(l, ctx) : h('p', { class: 'muted' }, l.price_minor === null ? 'This item is free: message the seller to ask for it.' : 'Offers are not possible on listings with variants: message the seller.'),
        messageForm(l, ctx),
        h('div', { class: 'actions' }, h('button', { type: 'button', class: 'secondary', id: 'watch-listing', onclick: async (ev) => {
          const btn = ev.currentTarget;
          btn.disabled = true;
          try {
            await post('/v1/watches/listings', { listing: l.id });
            btn.textContent = 'Watching';
            notice('Watching: price changes and its end show under Alerts.');
          } catch (e) {
            btn.disabled = false;
            notice(String(e.message || e), 'error');
          }
        } }, 'Watch this listing')));
    }

    mount(main,
      h('p', { class: 'crumbs' }, h('a', { href: '#/search' }, '← Back to search')),
      h('div', { class: 'listing-head' },
        h('h1', { id: 'listing-title' }, l.title),
        h('p', { class: 'big-price', id: 'listing-price' }, priceOf(l))),
      h('div', { class: 'listing' },
        h('div', { class: 'stack' },
          gallery(l),
          h('section', { 'aria-labelledby': 'desc-h' },
            h('h2', { id: 'desc-h' }, 'Description'),
            l.description ? h('p', { class: 'description' }, l.description) : h('p', { class: 'muted' }, 'No description.')),
          variants),
        h('div', { class: 'stack' },
          active ? null : h('p', {}, h('span', { class: `state ${status}` }, status)),
          facts,
          h('section', { class: 'panel seller', 'aria-labelledby': 'seller-h' },
            h('h2', { id: 'seller-h' }, mine ? 'You are the seller' : 'Seller'),
            h('p', {}, h('span', { title: l.seller, class: 'mono' }, short(l.seller, 12))),
            h('p', { id: 'seller-rating' }, ratingText(rep))),
          actions)),
      h('section', { 'aria-labelledby': 'reviews-h' },
        h('h2', { id: 'reviews-h' }, 'Reviews of the seller'),
        reviewList(rv)));
  }

  await load();
  let timer = null;
  ctx.on('listing', (ev) => {
    if (ev.id !== id) return;
    clearTimeout(timer);
    timer = setTimeout(() => {
      // Never wipe what the user is typing in the offer or message form.
      const typing = [...main.querySelectorAll('input, textarea')].some((el) => el.value);
      if (typing) { notice('This listing has just changed: reload the page to see it.'); return; }
      load().catch((e) => console.error(e));
    }, 300);
  });
  return () => clearTimeout(timer);
}
