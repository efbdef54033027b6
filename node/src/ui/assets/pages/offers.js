// Offers & deals (`#/offers`): my negotiations as buyer and as seller with whose turn it is, and
// my deals with their reviews and a review form; one negotiation (`#/offers/THREAD`): its
// history and the moves the API allows in its state (accept, decline, counter, retract, a new
// offer). Live through the node's `negotiation`, `deal` and `review` events.
import { get, post } from '../api.js';
import { h, mount, ago, when, short, clearErrors, showError, notice } from '../dom.js';

const REVIEW_TEXT_MAX = 1000; // POST /v1/reviews: text up to 1,000 characters, rating 1..=5

function party(id) {
  return h('span', { class: 'party', title: id }, short(id, 12));
}

function time(secs) {
  if (!secs) return null;
  return h('time', { datetime: new Date(secs * 1000).toISOString(), title: when(secs) }, when(secs));
}

const dealStates = {
  awaiting_seller: 'waiting for the seller to confirm',
  awaiting_buyer: 'waiting for the buyer to sign',
  confirmed: 'confirmed',
  sold_out: 'sold out: the seller had no stock left',
};

/** The open offers of a negotiation, newest last. */
function openOffers(n) {
  return (n.offers || []).filter((o) => o.status === 'open');
}

/** A negotiation's state for people: "deal confirmed", "your turn", "waiting for them", "closed". */
function stateOf(n) {
  if (n.deal) return { key: n.deal.state === 'confirmed' ? 'accepted' : 'pending', text: `deal ${dealStates[n.deal.state] || n.deal.state}` };
  const open = openOffers(n);
  if (!open.length) {
    const last = (n.offers || [])[n.offers.length - 1];
    return { key: last ? last.status : 'closed', text: last ? `closed (last offer ${last.status.replace(/_/g, ' ')})` : 'no offers' };
  }
  const theirs = open.some((o) => o.by !== n.role);
  return theirs ? { key: 'turn', text: 'your turn' } : { key: 'waiting', text: 'waiting for them' };
}

/** The price on the table: the deal's, else the newest open offer's, else the newest offer's. */
function currentPrice(n) {
  if (n.deal) return n.deal.price;
  const open = openOffers(n);
  const o = open[open.length - 1] || (n.offers || [])[n.offers.length - 1];
  return o ? o.price : '';
}

export async function render(main, ctx) {
  if (ctx.arg) return renderOne(main, ctx, ctx.arg);
  return renderAll(main, ctx);
}

// ---------------------------------------------------------------- the overview

async function renderAll(main, ctx) {
  const negs = h('div', { id: 'negotiations' });
  const deals = h('div', { id: 'deals' });
  const received = h('div', { id: 'reviews-received' });
  mount(main, h('h1', {}, 'Offers & deals'),
    h('section', { 'aria-labelledby': 'h-negotiations' }, h('h2', { id: 'h-negotiations' }, 'Negotiations'), negs),
    h('section', { 'aria-labelledby': 'h-deals' }, h('h2', { id: 'h-deals' }, 'Deals'), deals),
    h('section', { 'aria-labelledby': 'h-received' }, h('h2', { id: 'h-received' }, 'Reviews about you'), received));

  async function loadNegotiations() {
    const { negotiations } = await get('/v1/offers');
    if (!negotiations.length) {
      mount(negs, h('p', { class: 'muted' }, 'No offers yet. Make one from a listing page.'));
      return;
    }
    mount(negs, h('div', { class: 'table-wrap' }, h('table', { class: 'negotiations' },
      h('caption', { class: 'visually-hidden' }, 'Your negotiations'),
      h('thead', {}, h('tr', {},
        h('th', { scope: 'col' }, 'Listing'), h('th', { scope: 'col' }, 'You are'), h('th', { scope: 'col' }, 'Other party'),
        h('th', { scope: 'col' }, 'Price'), h('th', { scope: 'col' }, 'State'))),
      h('tbody', {}, negotiations.map((n) => {
        const st = stateOf(n);
        return h('tr', { dataset: { thread: n.thread } },
          h('td', {}, h('a', { href: ctx.link('offers', n.thread) }, n.title || `Listing ${short(n.listing, 12)}`),
            h('div', { class: 'muted small' }, `asking ${n.asking}`)),
          h('td', {}, n.role),
          h('td', {}, party(n.other)),
          h('td', { class: 'price' }, currentPrice(n)),
          h('td', {}, h('span', { class: `state ${st.key}` }, st.text)));
      })))));
  }

  async function loadDeals() {
    const [{ deals: list }, me] = [await get('/v1/deals'), ctx.me];
    const mySeller = me && me.seller;
    const about = mySeller ? await get(`/v1/reviews?about=${encodeURIComponent(mySeller)}&limit=1000`) : { reviews: [], reputation: null };
    // Reviews I wrote are among the reviews about each other party.
    const others = [...new Set(list.map((d) => (d.role === 'seller' ? d.buyer : d.seller)))];
    const written = new Map();
    await Promise.all(others.map(async (o) => {
      try {
        const r = await get(`/v1/reviews?about=${encodeURIComponent(o)}&limit=1000`);
        for (const rv of r.reviews) if (rv.by === mySeller) written.set(rv.deal, rv);
      } catch (e) { console.error(e); }
    }));
    const receivedByDeal = new Map(about.reviews.map((rv) => [rv.deal, rv]));

    if (!list.length) mount(deals, h('p', { class: 'muted' }, 'No deals yet. A deal is made when one side accepts the other\'s offer.'));
    else mount(deals, h('ul', { class: 'plain deal-list' }, list.map((d) => dealCard(d, ctx, written.get(d.id), receivedByDeal.get(d.id), reloadDeals))));

    const rep = about.reputation;
    mount(received,
      rep ? h('p', { class: 'muted', id: 'my-reputation' },
        rep.average_rating === null ? 'Nobody has reviewed you yet.'
          : `${stars(rep.average_rating)} ${rep.average_rating.toFixed(1)} of 5 from ${rep.reviews} review${rep.reviews === 1 ? '' : 's'} (${rep.deals} deal${rep.deals === 1 ? '' : 's'})`) : null,
      about.reviews.length ? h('ul', { class: 'plain' }, about.reviews.map((rv) => reviewView(rv, 'by'))) : null);
  }
  const reloadDeals = () => loadDeals().catch((e) => console.error(e));

  await Promise.all([loadNegotiations(), loadDeals()]);
  let t1 = null; let t2 = null;
  ctx.on('negotiation', () => { clearTimeout(t1); t1 = setTimeout(() => loadNegotiations().catch(console.error), 150); });
  ctx.on('deal', () => {
    clearTimeout(t1); t1 = setTimeout(() => loadNegotiations().catch(console.error), 150);
    clearTimeout(t2); t2 = setTimeout(reloadDeals, 150);
  });
  ctx.on('review', () => { clearTimeout(t2); t2 = setTimeout(reloadDeals, 150); });
  return () => { clearTimeout(t1); clearTimeout(t2); };
}

function stars(rating) {
  const n = Math.round(rating);
  return '★'.repeat(n) + '☆'.repeat(5 - n);
}

function reviewView(rv, who) {
  return h('li', { class: 'review', dataset: { deal: rv.deal } },
    h('p', {}, h('span', { class: 'stars', 'aria-label': `${rv.rating} of 5 stars` }, stars(rv.rating)), ' ',
      who === 'by' ? ['by ', party(rv.by)] : ['about ', party(rv.about)],
      ' · ', h('span', { class: 'muted' }, ago(rv.written_at))),
    rv.text ? h('p', { class: 'review-text' }, rv.text) : null);
}

function dealCard(d, ctx, mine, theirs, reload) {
  const other = d.role === 'seller' ? d.buyer : d.seller;
  const complete = Boolean(d.receipt);
  return h('li', { class: 'panel deal', id: `deal-${d.id}`, dataset: { deal: d.id, state: d.state } },
    h('h3', {}, h('a', { href: ctx.link('listing', d.listing) }, d.title || `Listing ${short(d.listing, 12)}`)),
    h('dl', { class: 'facts' },
      h('dt', {}, 'Price'), h('dd', { class: 'price' }, d.quantity > 1 ? `${d.price} for ${d.quantity}` : d.price),
      h('dt', {}, d.role === 'seller' ? 'Buyer' : 'Seller'), h('dd', {}, party(other), ` (you are the ${d.role})`),
      h('dt', {}, 'Agreed'), h('dd', {}, time(d.accepted_at)),
      h('dt', {}, 'State'), h('dd', {}, h('span', { class: `state deal-state ${d.state === 'confirmed' ? 'accepted' : d.state}` }, dealStates[d.state] || d.state)),
      d.pickup_at ? [h('dt', {}, 'Pickup'), h('dd', {}, d.pickup_at)] : null),
    h('p', { class: 'actions' },
      h('a', { href: ctx.link('offers', d.thread) }, 'Negotiation'),
      h('a', { href: ctx.link('inbox', d.thread) }, 'Messages')),
    complete ? h('details', { class: 'receipt' }, h('summary', {}, 'Receipt'),
      h('p', { class: 'muted small' }, 'Anyone can check it with swapmeet verify.'),
      h('code', { class: 'receipt-line' }, d.receipt)) : null,
    theirs ? h('div', {}, h('h4', {}, 'Their review of you'), h('ul', { class: 'plain' }, reviewView(theirs, 'by'))) : null,
    mine ? h('div', {}, h('h4', {}, 'Your review'), h('ul', { class: 'plain' }, reviewView(mine, 'about'))) : null,
    complete ? reviewForm(d, mine, reload)
      : h('p', { class: 'muted' }, 'You can review once both sides have signed the deal.'));
}

function reviewForm(d, mine, reload) {
  const id = d.id.slice(0, 16);
  const rating = h('select', { name: 'rating', id: `rating-${id}`, required: true },
    h('option', { value: '' }, 'Choose…'),
    [5, 4, 3, 2, 1].map((n) => h('option', { value: String(n), selected: mine && mine.rating === n }, `${n} - ${['', 'bad', 'poor', 'fair', 'good', 'excellent'][n]}`)));
  const text = h('textarea', { name: 'text', id: `review-text-${id}`, maxlength: REVIEW_TEXT_MAX, rows: 3 });
  if (mine) text.value = mine.text || '';
  const count = h('span', { class: 'hint', id: `review-count-${id}` }, `${text.value.length} / ${REVIEW_TEXT_MAX}`);
  text.addEventListener('input', () => { count.textContent = `${text.value.length} / ${REVIEW_TEXT_MAX}`; });
  const button = h('button', { type: 'submit' }, mine ? 'Replace your review' : 'Post review');
  const form = h('form', {
    class: 'stack review-form', id: `review-form-${id}`, dataset: { deal: d.id },
    'aria-label': mine ? 'Change your review' : 'Review this deal',
    onsubmit: async (e) => {
      e.preventDefault();
      clearErrors(form);
      if (!rating.value) { showError(form, { field: 'rating', message: 'Choose a rating from 1 to 5.' }); return; }
      button.disabled = true;
      try {
        const r = await post('/v1/reviews', { deal: d.id, rating: Number(rating.value), text: text.value.trim() });
        notice(r.replaced ? 'Your review was replaced.' : 'Your review was posted.');
        reload();
      } catch (err) {
        showError(form, err);
        button.disabled = false;
      }
    },
  },
  h('h4', {}, mine ? 'Change your review' : 'Review the ' + (d.role === 'seller' ? 'buyer' : 'seller')),
  h('div', { class: 'row' },
    field(`rating-${id}`, 'Rating', rating)),
  field(`review-text-${id}`, h('span', {}, 'Review ', count), text),
  h('div', { class: 'actions' }, button));
  return mine ? h('details', { class: 'edit-review' }, h('summary', {}, 'Change your review'), form) : form;
}

// ---------------------------------------------------------------- one negotiation

async function renderOne(main, ctx, id) {
  let n = await get(`/v1/offers/${encodeURIComponent(id)}`);
  const thread = n.thread;
  const head = h('div', { id: 'negotiation-head' });
  const history = h('div', { id: 'negotiation-history' });
  const actions = h('div', { id: 'negotiation-actions' });
  const title = h('h1', {});
  mount(main, h('p', {}, h('a', { href: ctx.link('offers') }, '← All offers & deals')), title, head,
    h('section', { 'aria-labelledby': 'h-actions' }, h('h2', { id: 'h-actions' }, 'What you can do'), actions),
    h('section', { 'aria-labelledby': 'h-history' }, h('h2', { id: 'h-history' }, 'History'), history));

  function draw() {
    title.textContent = n.title || `Listing ${short(n.listing, 12)}`;
    const st = stateOf(n);
    mount(head,
      h('dl', { class: 'facts panel' },
        h('dt', {}, 'Asking'), h('dd', {}, n.asking),
        h('dt', {}, 'You are'), h('dd', {}, `the ${n.role}`),
        h('dt', {}, n.role === 'seller' ? 'Buyer' : 'Seller'), h('dd', {}, party(n.other)),
        h('dt', {}, 'On the table'), h('dd', { class: 'price', id: 'current-price' }, currentPrice(n) || '-'),
        h('dt', {}, 'State'), h('dd', {}, h('span', { class: `state ${st.key}`, id: 'negotiation-state' }, st.text))),
      h('p', { class: 'actions' },
        h('a', { class: 'button secondary', href: ctx.link('listing', n.listing) }, 'View listing'),
        h('a', { class: 'button secondary', href: ctx.link('inbox', thread) }, 'Messages')));
    mount(history, (n.offers || []).length
      ? h('ol', { class: 'plain offer-history' }, n.offers.map((o) => h('li', {
        class: `offer-row${o.by === n.role ? ' mine' : ''}`, dataset: { hash: o.hash, status: o.status },
      },
      h('span', { class: 'who' }, o.by === n.role ? 'You' : (o.by === 'buyer' ? 'Buyer' : 'Seller'), o.kind === 'counter' ? ' countered' : ' offered'),
      ' ', h('strong', {}, o.price), o.quantity > 1 ? ` for ${o.quantity}` : '',
      ' ', h('span', { class: `state ${o.status}` }, o.status.replace(/_/g, ' ')),
      h('span', { class: 'muted small' }, ' · ', time(o.sent_at),
        o.status === 'open' && o.seconds_left ? ` · ${left(o.seconds_left)} left` : ''))))
      : h('p', { class: 'muted' }, 'No offers in this thread.'),
    (n.ignored || []).length ? h('details', {}, h('summary', {}, `${n.ignored.length} move(s) ignored`),
      h('ul', {}, n.ignored.map((i) => h('li', {}, `${short(i.hash)}: ${i.reason}`)))) : null);
    mount(actions, actionForms());
  }

  function actionForms() {
    if (n.deal) {
      const d = n.deal;
      return h('div', { class: 'panel deal-made', id: 'deal-made' },
        h('p', {}, h('strong', {}, `Deal: ${d.price}`), d.quantity > 1 ? ` for ${d.quantity}` : '',
          ' · ', h('span', { class: `state ${d.state === 'confirmed' ? 'accepted' : d.state}`, id: 'deal-state' }, dealStates[d.state] || d.state)),
        h('p', {}, h('a', { href: `${ctx.link('offers')}`, id: 'deal-link' }, d.state === 'confirmed' ? 'See the deal and review it' : 'See your deals')));
    }
    const open = openOffers(n);
    const theirs = open.filter((o) => o.by !== n.role);
    const mine = open.filter((o) => o.by === n.role);
    const forms = [];
    const target = theirs[theirs.length - 1];
    if (target) {
      forms.push(h('p', {}, `They ${target.kind === 'counter' ? 'countered' : 'offered'} `, h('strong', {}, target.price),
        target.quantity > 1 ? ` for ${target.quantity}` : '', '.'));
      forms.push(h('div', { class: 'actions' },
        moveForm('accept', `Accept ${target.price}`, { of: target.hash }),
        moveForm('decline', 'Decline', { of: target.hash }, 'secondary')));
      forms.push(priceForm('counter', 'Counter-offer', 'Send counter-offer', n, target));
    }
    for (const o of mine) {
      forms.push(h('div', { class: 'actions' },
        h('p', {}, 'Your offer of ', h('strong', {}, o.price), ' is open', o.seconds_left ? ` for ${left(o.seconds_left)}` : '', '.'),
        moveForm('retract', 'Retract your offer', { of: o.hash }, 'secondary')));
    }
    if (!open.length && n.role === 'buyer') {
      forms.push(priceForm('offer', 'Make a new offer', 'Send offer', n, null));
    }
    if (!forms.length) forms.push(h('p', { class: 'muted' }, n.role === 'seller' ? 'Nothing to answer: wait for the buyer\'s next offer.' : 'Nothing to do right now.'));
    return forms;
  }

  function moveForm(move, label, body, kind) {
    const button = h('button', { type: 'submit', class: kind || '', id: `${move}-button` }, label);
    const form = h('form', {
      class: 'move-form', id: `${move}-form`,
      onsubmit: async (e) => {
        e.preventDefault();
        clearErrors(form);
        button.disabled = true;
        try {
          n = await post(`/v1/offers/${encodeURIComponent(thread)}/${move}`, body);
          notice({ accept: 'Accepted.', decline: 'Declined.', retract: 'Your offer was retracted.' }[move]);
          draw();
        } catch (err) {
          showError(form, err);
          button.disabled = false;
        }
      },
    }, button);
    return form;
  }

  function priceForm(move, heading, label, neg, answered) {
    const fid = `${move}-form`;
    const price = h('input', { name: 'price', id: `${move}-price`, inputmode: 'decimal', autocomplete: 'off', required: true, placeholder: neg.asking.replace(/[\d.,]+/, '0.00') });
    const qty = h('input', { name: 'quantity', id: `${move}-quantity`, type: 'number', min: 1, step: 1, value: String((answered && answered.quantity) || 1) });
    const msg = h('input', { name: 'message', id: `${move}-message`, maxlength: 2000, autocomplete: 'off' });
    const button = h('button', { type: 'submit', id: `${move}-send` }, label);
    const form = h('form', {
      class: 'stack price-form panel', id: fid, novalidate: true,
      onsubmit: async (e) => {
        e.preventDefault();
        clearErrors(form);
        const body = { price: price.value.trim() };
        if (!body.price) { showError(form, { field: 'price', message: 'Enter a price, e.g. 200 or 199.99.' }); return; }
        const q = Number(qty.value || 1);
        if (!Number.isInteger(q) || q < 1) { showError(form, { field: 'quantity', message: 'The quantity is a whole number from 1.' }); return; }
        if (!answered || q !== answered.quantity) body.quantity = q;
        if (msg.value.trim()) body.message = msg.value.trim();
        button.disabled = true;
        try {
          if (move === 'offer') n = await post('/v1/offers', { listing: neg.listing, ...body });
          else n = await post(`/v1/offers/${encodeURIComponent(thread)}/counter`, body);
          notice(move === 'offer' ? 'Your offer was sent.' : 'Your counter-offer was sent.');
          draw();
        } catch (err) {
          showError(form, err);
          button.disabled = false;
        }
      },
    },
    h('h3', {}, heading),
    h('div', { class: 'row' },
      field(`${move}-price`, `Price for the whole quantity (${neg.currency})`, price),
      field(`${move}-quantity`, 'Quantity', qty)),
    field(`${move}-message`, h('span', {}, 'Message ', h('span', { class: 'hint' }, '(optional)')), msg),
    h('div', { class: 'actions' }, button));
    return form;
  }

  async function reload() {
    n = await get(`/v1/offers/${encodeURIComponent(thread)}`);
    draw();
  }
  draw();
  let pending = null;
  const again = (ev) => {
    if (ev && ev.thread && ev.thread !== thread) return;
    clearTimeout(pending);
    pending = setTimeout(() => reload().catch(console.error), 150);
  };
  ctx.on('negotiation', again);
  ctx.on('deal', again);
  // The countdowns of open offers.
  const tick = setInterval(() => {
    if (openOffers(n).length && !document.activeElement?.closest('form')) reload().catch(console.error);
  }, 60000);
  return () => { clearTimeout(pending); clearInterval(tick); };
}

function left(secs) {
  if (secs >= 86400) return `${Math.floor(secs / 86400)} d ${Math.floor((secs % 86400) / 3600)} h`;
  if (secs >= 3600) return `${Math.floor(secs / 3600)} h ${Math.floor((secs % 3600) / 60)} min`;
  return `${Math.max(1, Math.floor(secs / 60))} min`;
}

/** A label above its control, in a `.field` (where `showError` puts the field's error). */
function field(id, label, control) {
  return h('div', { class: 'field' }, h('label', { for: id }, label), control);
}
