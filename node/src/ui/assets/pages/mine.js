// My listings: active, expired, and sold or withdrawn, with edit, renew, mark sold and
// withdraw (confirmed first).

import { get } from '../api.js';
import { h, mount, when } from '../dom.js';
import { priceOf, thumbBox } from './search.js';
import { ownerActions } from './listing.js';

const GROUPS = [
  ['active', 'Active', 'Nothing for sale right now.'],
  ['expired', 'Expired', 'None expired.'],
  ['ended', 'Sold and withdrawn', 'None sold or withdrawn yet.'],
];

export async function render(main, ctx) {
  let ids = new Set();
  async function load() {
    const { listings } = await get('/v1/mine');
    ids = new Set(listings.map((l) => l.id));
    const groups = { active: [], expired: [], ended: [] };
    for (const l of listings) {
      const g = l.status === 'active' ? 'active' : l.status === 'expired' ? 'expired' : 'ended';
      groups[g].push(l);
    }
    mount(main,
      h('div', { class: 'page-head' },
        h('h1', {}, 'My listings'),
        h('a', { class: 'button', href: '#/sell', id: 'mine-sell' }, 'Sell an item')),
      listings.length === 0 ? h('p', { class: 'empty' }, 'You have not listed anything yet. ', h('a', { href: '#/sell' }, 'Sell your first item'), '.') : null,
      listings.length === 0 ? null : GROUPS.map(([key, title, none]) => h('section', { 'aria-labelledby': `mine-${key}-h`, id: `mine-${key}` },
        h('h2', { id: `mine-${key}-h` }, `${title} (${groups[key].length})`),
        groups[key].length === 0 ? h('p', { class: 'muted' }, none)
          : h('ul', { class: 'plain mine-list' }, groups[key].map((l) => h('li', { class: 'mine-row panel', dataset: { id: l.id } },
            thumbBox(l, 'thumb small-thumb'),
            h('div', { class: 'mine-info' },
              h('a', { href: ctx.link('listing', l.id), class: 'title' }, l.title),
              h('div', {}, h('strong', {}, priceOf(l)), ' ', h('span', { class: `state ${l.status}` }, l.status)),
              h('div', { class: 'muted small' },
                l.status === 'active' ? `Expires ${when(l.expires_at)}` : l.status === 'expired' ? `Expired ${when(l.expires_at)}` : `Listed ${when(l.signed_at)}`)),
            ownerActions(l, ctx, load)))))));
  }
  await load();
  let timer = null;
  ctx.on('listing', (ev) => {
    // Changes of mine made elsewhere (the CLI, expiry); not a peer's listings.
    if (!ids.has(ev.id) && ev.source !== 'local') return;
    clearTimeout(timer);
    const later = () => {
      // Not under the user's hands: an open "really withdraw?" waits for its answer.
      if (main.querySelector('.confirm:not([hidden])')) { timer = setTimeout(later, 1000); return; }
      load().catch((e) => console.error(e));
    };
    timer = setTimeout(later, 300);
  });
  return () => clearTimeout(timer);
}
