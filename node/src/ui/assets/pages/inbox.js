// Inbox (`#/inbox`) and one conversation (`#/inbox/THREAD`): the threads newest first with their
// unread count and the delivery state of my last message; a thread as bubbles (mine on the
// right) with each message's delivery state and a reply form. Both follow the node's `message`
// and `delivery` events without a reload.
import { get, post } from '../api.js';
import { h, mount, ago, when, short, clearErrors, showError } from '../dom.js';

/** Who the other party is, as a short id with the full one in `title`. */
function party(id) {
  return h('span', { class: 'party', title: id }, short(id, 12));
}

/** A delivery state as a small chip ("queued", "delivered", "expired"). */
function deliveryChip(state) {
  if (!state) return null;
  const label = { queued: 'queued: not delivered yet', delivered: 'delivered', expired: 'expired: never delivered' }[state] || state;
  return h('span', { class: `state ${state}`, title: `delivery: ${label}` }, state);
}

// Negotiation moves travel in the thread as messages; the API says which step each is
// (`kind`, read from the signed message) and describes it in `text` as
// "[offer] 200.00 EUR for 1 (open until UNIX)", "[accept] HASH"... (messaging.rs body_text).
// Only a message whose kind is a step is shown as one: chat that merely looks like
// "[accept] ..." stays chat, as written. The offers page has the authoritative state.
const TERMS = /^\[(?:offer|counter)\] (.*) for (\d+) \(open until (\d+)\)$/;

function isMove(m) {
  return !!m && m.kind && m.kind !== 'text';
}

/** A message for people: steps in words, chat as written. */
function say(m) {
  if (!isMove(m)) return m ? m.text : '';
  if (m.kind === 'offer' || m.kind === 'counter') {
    const what = m.kind === 'offer' ? 'Offer' : 'Counter-offer';
    const t = TERMS.exec(m.text || '');
    if (!t) return `${what}`;
    return `${what}: ${t[1]}${t[2] !== '1' ? ` for ${t[2]}` : ''}, open until ${when(Number(t[3]))}`;
  }
  return {
    accept: 'Accepted the offer',
    decline: 'Declined the offer',
    retract: 'Retracted the offer',
    deal_signature: 'Signed the deal',
    void: `Deal void${/^\[void: ([^\]]*)\]/.test(m.text) ? ` (${/^\[void: ([^\]]*)\]/.exec(m.text)[1]})` : ''}`,
  }[m.kind] || m.text;
}

/**
 * The header's unread badge (the shell refreshes it on message events only; reading a thread
 * here lowers the count, so the page sets it from the inbox's own figure).
 */
function setBadge(unread) {
  const b = document.getElementById('unread-badge');
  if (!b) return;
  b.hidden = !unread;
  b.textContent = unread ? `${unread} unread` : '';
}

export async function render(main, ctx) {
  if (ctx.arg) return renderThread(main, ctx, ctx.arg);
  return renderList(main, ctx);
}

async function renderList(main, ctx) {
  const list = h('ul', { class: 'plain threads', id: 'threads', 'aria-label': 'Conversations' });
  const summary = h('p', { class: 'muted', id: 'inbox-summary' });
  mount(main, h('h1', {}, 'Inbox'), summary, list);

  async function load() {
    const [{ threads, unread }, offers] = await Promise.all([
      get('/v1/inbox'),
      get('/v1/offers').catch(() => ({ negotiations: [] })),
    ]);
    setBadge(unread);
    const negs = new Map(offers.negotiations.map((n) => [n.thread, n]));
    threads.sort((a, b) => (b.updated_at || 0) - (a.updated_at || 0));
    summary.textContent = threads.length
      ? `${threads.length} conversation${threads.length === 1 ? '' : 's'}, ${unread} unread message${unread === 1 ? '' : 's'}`
      : '';
    if (!threads.length) {
      mount(list, h('li', { class: 'empty muted' }, 'No conversations yet. Message a seller from a listing, or wait for buyers to write to you.'));
      return;
    }
    mount(list, threads.map((t) => threadRow(t, ctx, negs.get(t.thread))));
  }
  await load();
  let pending = null;
  const again = () => {
    // Events come in bursts (a message and its delivery); one reload for a burst.
    clearTimeout(pending);
    pending = setTimeout(() => load().catch((e) => console.error(e)), 150);
  };
  ctx.on('message', again);
  ctx.on('delivery', again);
  ctx.on('negotiation', again);
  ctx.on('deal', again);
  return () => clearTimeout(pending);
}

/** A negotiation's word for the inbox: "deal", "offer: your turn", "offer sent". */
function negotiationChip(n) {
  if (!n) return null;
  if (n.deal) return h('span', { class: 'state accepted' }, `deal ${n.deal.price}`);
  const open = (n.offers || []).filter((o) => o.status === 'open');
  if (!open.length) return h('span', { class: 'state' }, 'offer closed');
  const last = open[open.length - 1];
  return open.some((o) => o.by !== n.role)
    ? h('span', { class: 'state turn' }, `offer ${last.price}: your turn`)
    : h('span', { class: 'state' }, `your offer ${last.price}`);
}

function threadRow(t, ctx, n) {
  const last = t.last;
  const mineLast = last && last.from_me;
  const title = t.title || `Listing ${short(t.listing, 12)}`;
  return h('li', { class: `thread-row${t.unread ? ' has-unread' : ''}`, dataset: { thread: t.thread } },
    h('a', { href: ctx.link('inbox', t.thread), class: 'thread-link' },
      h('span', { class: 'thread-head' },
        h('span', { class: `thread-title${t.unread ? ' unread' : ''}` }, title),
        t.unread ? h('span', { class: 'count', 'aria-label': `${t.unread} unread` }, String(t.unread)) : null),
      h('span', { class: 'thread-meta muted' },
        t.role === 'seller' ? 'Buyer ' : 'Seller ', party(t.other),
        t.listing_status && t.listing_status !== 'active' ? ` · listing ${t.listing_status}` : '',
        ' · ', h('time', { datetime: new Date((t.updated_at || 0) * 1000).toISOString(), title: when(t.updated_at) }, ago(t.updated_at))),
      h('span', { class: 'thread-last' },
        last ? [mineLast ? 'You: ' : '', say(last)] : h('span', { class: 'muted' }, 'No messages')),
      h('span', { class: 'thread-delivery' },
        negotiationChip(n), n && mineLast ? ' ' : null,
        mineLast ? deliveryChip(last.state) : null,
        t.queued ? h('span', { class: 'muted' }, ` ${t.queued} waiting to be delivered`) : null)));
}

async function renderThread(main, ctx, id) {
  // Opening the thread marks its messages read (the API's default).
  let t = await get(`/v1/threads/${encodeURIComponent(id)}`);
  const thread = t.thread;
  const bubbles = h('ol', { class: 'bubbles', id: 'conversation', 'aria-label': 'Conversation', 'aria-live': 'polite' });
  const head = h('div', { class: 'thread-top' });
  const text = h('textarea', { name: 'text', id: 'reply-text', maxlength: 2000, required: true, rows: 3 });
  const send = h('button', { type: 'submit', id: 'reply-send' }, 'Send');
  const form = h('form', { class: 'stack reply', id: 'reply-form', onsubmit: onSend },
    h('label', { for: 'reply-text' }, 'Your reply'), text,
    h('div', { class: 'actions' }, send));
  text.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) form.requestSubmit();
  });

  mount(main,
    h('p', {}, h('a', { href: ctx.link('inbox') }, '← All conversations')),
    h('h1', {}, t.title || `Listing ${short(t.listing, 12)}`),
    head, bubbles, form);

  let negotiation = null;
  async function loadNegotiation() {
    try {
      negotiation = await get(`/v1/offers/${encodeURIComponent(thread)}`);
    } catch (e) {
      if (e.status !== 404) console.error(e);
      negotiation = null;
    }
  }

  function draw() {
    mount(head,
      h('p', { class: 'muted' },
        t.role === 'seller' ? 'You are selling to ' : 'You are buying from ', party(t.other),
        ' · listing ', h('span', { class: `state ${t.listing_status}` }, t.listing_status)),
      h('div', { class: 'actions' },
        h('a', { class: 'button secondary', href: ctx.link('listing', t.listing), id: 'thread-listing' }, 'View listing'),
        negotiation
          ? h('a', { class: 'button secondary', href: ctx.link('offers', thread), id: 'thread-offers' },
            negotiation.deal ? 'View the deal' : negotiation.open ? 'View the offer' : 'View the negotiation')
          : null));
    const theirs = negotiation && !negotiation.deal
      ? (negotiation.offers || []).filter((o) => o.status === 'open' && o.by !== negotiation.role) : [];
    if (theirs.length) {
      const o = theirs[theirs.length - 1];
      head.append(h('p', { class: 'banner', id: 'thread-offer-banner' },
        `They ${o.kind === 'counter' ? 'countered with' : 'offered'} `, h('strong', {}, o.price), '. ',
        h('a', { href: ctx.link('offers', thread) }, 'Accept, decline or counter')));
    }
    const conv = t.conversation || [];
    if (!conv.length) {
      mount(bubbles, h('li', { class: 'muted' }, 'No messages yet.'));
      return;
    }
    mount(bubbles, conv.map((m) => h('li', {
      class: `bubble${m.from_me ? ' mine' : ''}${isMove(m) ? ' move' : ''}`,
      dataset: { hash: m.hash, state: m.state || '' },
    },
    h('span', { class: 'visually-hidden' }, m.from_me ? 'You wrote: ' : 'They wrote: '),
    h('p', { class: 'text' }, say(m)),
    h('p', { class: 'meta' },
      h('time', { datetime: new Date(m.sent_at * 1000).toISOString(), title: when(m.sent_at) }, when(m.sent_at)),
      m.from_me ? [' · ', deliveryChip(m.state)] : null))));
  }

  async function reload() {
    t = await get(`/v1/threads/${encodeURIComponent(thread)}`);
    draw();
    refreshBadge();
  }
  const refreshBadge = () => get('/v1/inbox').then((i) => setBadge(i.unread)).catch(() => {});

  async function onSend(e) {
    e.preventDefault();
    clearErrors(form);
    const body = text.value.trim();
    if (!body) {
      showError(form, { field: 'text', message: 'Write a message first.' });
      return;
    }
    send.disabled = true;
    try {
      await post('/v1/messages', { thread, text: body });
      text.value = '';
      await reload();
      bubbles.lastElementChild?.scrollIntoView({ block: 'nearest' });
    } catch (err) {
      showError(form, err);
    } finally {
      send.disabled = false;
    }
  }

  await loadNegotiation();
  draw();
  refreshBadge();
  let pending = null;
  const mine = (ev) => ev && ev.thread === thread;
  const again = () => {
    clearTimeout(pending);
    pending = setTimeout(() => reload().catch((err) => console.error(err)), 150);
  };
  ctx.on('message', (ev) => { if (mine(ev)) again(); });
  ctx.on('delivery', (ev) => { if (mine(ev)) again(); });
  ctx.on('negotiation', (ev) => {
    if (mine(ev)) loadNegotiation().then(again);
  });
  ctx.on('deal', (ev) => {
    if (mine(ev)) loadNegotiation().then(again);
  });
  return () => clearTimeout(pending);
}
