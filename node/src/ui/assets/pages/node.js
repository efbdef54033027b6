// Node (`#/node`): the node's status (ids, reachability, listings held, sync, version, uptime),
// its peers, an invite to copy and a form to join someone's, the blocked sellers, and logging
// out of this browser, and the report of the shop bridge's last run (GET /v1/bridge/last).
import { get, post, del } from '../api.js';
import { h, mount, ago, when, short, clearErrors, showError, notice } from '../dom.js';

function uptime(secs) {
  const d = Math.floor(secs / 86400); const hr = Math.floor((secs % 86400) / 3600); const m = Math.floor((secs % 3600) / 60);
  if (d) return `${d} d ${hr} h`;
  if (hr) return `${hr} h ${m} min`;
  return `${m} min ${secs % 60} s`;
}

function bytes(n) {
  if (n == null) return '';
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

function reachability(r) {
  if (!r) return ['unknown', 'unknown'];
  switch (r.state) {
    case 'public': return ['public', r.assumed_public ? 'public (assumed: not confirmed by peers yet)' : 'public: peers can dial this node directly'];
    case 'relayed': return ['relayed', `behind NAT, reachable through relay ${short(r.relay, 14)}`];
    case 'behind_nat': return ['behind_nat', 'behind NAT, no relay yet: peers cannot dial this node'];
    default: return ['unknown', 'not known yet (checking with peers)'];
  }
}

/** The last bridge run's report: what the shop's sync published, withdrew and skipped. */
async function loadBridge(box) {
  let last;
  try {
    last = await get('/v1/bridge/last');
  } catch (e) {
    if (e.status === 404) {
      mount(box, h('p', { class: 'muted' }, 'No bridge run yet. A shop keeps its catalogue in sync with ',
        h('code', {}, 'swapmeet bridge sync FEED'), '; its last report shows here.'));
    } else {
      mount(box, h('p', { role: 'alert' }, String(e.message || e)));
    }
    return;
  }
  const r = last.report || {};
  const n = (x) => (Array.isArray(x) ? x.length : (x || 0));
  const rows = [
    ['Items in the feed', n(r.items)],
    ['Listed', n(r.created)],
    ['Updated', n(r.updated)],
    ['Listed again', n(r.relisted)],
    ['Renewed', n(r.renewed)],
    ['Withdrawn', n(r.withdrawn)],
    ['Unchanged', n(r.unchanged)],
    ['Out of stock', n(r.out_of_stock)],
    ['Rows skipped', n(r.skipped)],
    ['Warnings', n(r.warnings)],
  ];
  mount(box,
    h('p', {}, `${r.dry_run ? 'Dry run' : 'Last run'} ${ago(last.at)} (${when(last.at)}).`),
    h('dl', { class: 'facts', id: 'bridge-counts' }, rows.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, String(v))])),
    r.withdrawals_refused ? h('p', { role: 'alert' }, `Withdrawals refused: ${r.withdrawals_refused}`) : null,
    n(r.skipped) ? h('details', {}, h('summary', {}, `Skipped rows (${n(r.skipped)})`),
      h('ul', {}, r.skipped.slice(0, 200).map((k) => h('li', {}, `row ${k.row}: ${k.reason}`)))) : null,
    r.wanted && r.wanted.count ? h('p', {}, `${r.wanted.count} wanted posts nearby match your catalogue: ${r.wanted.titles.join(', ')}.`) : null);
}

function copyable(id, label, value) {
  const status = h('span', { class: 'muted copy-status', role: 'status' });
  return h('div', { class: 'copy-row' },
    h('code', { id, class: 'copy-value' }, value),
    h('button', {
      type: 'button', class: 'secondary', 'aria-label': `Copy ${label}`,
      onclick: async () => {
        try {
          await navigator.clipboard.writeText(value);
          status.textContent = 'Copied.';
        } catch {
          // No clipboard permission (or not a secure context): select the text to copy by hand.
          const range = document.createRange();
          range.selectNodeContents(document.getElementById(id));
          const sel = getSelection(); sel.removeAllRanges(); sel.addRange(range);
          status.textContent = 'Selected: press Ctrl+C to copy.';
        }
      },
    }, 'Copy'), status);
}

export async function render(main, ctx) {
  const statusBox = h('div', { id: 'node-status' });
  const peersBox = h('div', { id: 'peers' });
  const inviteBox = h('div', { id: 'invite' });
  const blocksBox = h('div', { id: 'blocks' });
  const bridgeBox = h('div', { id: 'bridge-report' });
  loadBridge(bridgeBox);
  mount(main, h('h1', {}, 'Your node'),
    statusBox,
    h('section', { 'aria-labelledby': 'h-peers' }, h('h2', { id: 'h-peers' }, 'Peers'), peersBox),
    h('section', { 'aria-labelledby': 'h-invite' }, h('h2', { id: 'h-invite' }, 'Invite and join'), inviteBox, joinForm(() => loadPeers())),
    h('section', { 'aria-labelledby': 'h-bridge' }, h('h2', { id: 'h-bridge' }, 'Shop bridge'), bridgeBox),
    h('section', { 'aria-labelledby': 'h-blocks' }, h('h2', { id: 'h-blocks' }, 'Blocked sellers'), blocksBox),
    h('section', { 'aria-labelledby': 'h-session' }, h('h2', { id: 'h-session' }, 'This browser'),
      h('p', {}, 'Log out to end this browser\'s session. ', h('code', {}, 'swapmeet ui'), ' logs in again.'),
      h('form', { id: 'logout-form', onsubmit: logout }, h('button', { type: 'submit', class: 'danger', id: 'logout' }, 'Log out'))));

  async function loadStatus() {
    const s = await get('/v1/status');
    const net = s.network || {};
    const [rkey, rtext] = reachability(net.reachability);
    const msg = net.messaging || {};
    const sync = net.last_sync;
    const syncing = net.syncing || [];
    mount(statusBox, h('div', { class: 'status-grid' },
      h('section', { class: 'panel', 'aria-labelledby': 'h-identity' }, h('h2', { id: 'h-identity' }, 'Identity'),
        h('dl', { class: 'facts' },
          h('dt', {}, 'Seller id'), h('dd', {}, copyable('seller-id', 'seller id', s.seller)),
          h('dt', {}, 'Peer id'), h('dd', {}, h('code', { class: 'wrap', id: 'peer-id' }, s.peer_id)),
          h('dt', {}, 'Version'), h('dd', {}, s.version),
          h('dt', {}, 'Up for'), h('dd', { id: 'uptime' }, uptime(s.uptime_secs || 0)))),
      h('section', { class: 'panel', 'aria-labelledby': 'h-network' }, h('h2', { id: 'h-network' }, 'Network'),
        h('dl', { class: 'facts' },
          h('dt', {}, 'Reachability'), h('dd', {}, h('span', { class: `state reach-${rkey}`, id: 'reachability' }, rtext)),
          net.reachability && (net.reachability.direct_after_hole_punch || []).length
            ? [h('dt', {}, 'Direct'), h('dd', {}, `${net.reachability.direct_after_hole_punch.length} peer(s) direct after a hole punch`)] : null,
          h('dt', {}, 'Peers'), h('dd', {}, `${net.connected_peers ?? '?'} connected, ${net.known_peers ?? '?'} known`),
          h('dt', {}, 'Follows'), h('dd', {}, following(net.following)),
          h('dt', {}, 'Messages'), h('dd', {}, `${msg.outbox_queued || 0} waiting to be delivered, ${msg.delivered || 0} delivered, ${msg.received || 0} received`),
          msg.mailbox && msg.mailbox.messages ? [h('dt', {}, 'Mailbox'), h('dd', {}, `holding ${msg.mailbox.messages} message(s) for ${msg.mailbox.recipients} offline user(s)`)] : null)),
      h('section', { class: 'panel', 'aria-labelledby': 'h-data' }, h('h2', { id: 'h-data' }, 'Listings'),
        h('dl', { class: 'facts' },
          h('dt', {}, 'Yours'), h('dd', { id: 'own-listings' }, s.own_listings == null ? 'counted once the store is read' : String(s.own_listings)),
          s.lookups && s.lookups.loading ? [h('dt', {}, 'Starting'), h('dd', { id: 'lookups' }, `reading the store (${s.lookups.loading.read} records so far); searches work meanwhile`)] : null,
          s.lookups && s.lookups.failed ? [h('dt', {}, 'Store'), h('dd', { id: 'lookups', class: 'error' }, `not usable: ${s.lookups.failed}`)] : null,
          h('dt', {}, 'Held'), h('dd', { id: 'records' }, `${s.records} records, ${s.indexed} searchable`),
          h('dt', {}, 'On disk'), h('dd', {}, `${bytes(s.store_bytes)} store, ${bytes(s.index_bytes)} index`),
          h('dt', {}, 'Sync'), h('dd', { id: 'sync' },
            syncing.length ? `syncing with ${syncing.length} peer(s) now` : '',
            syncing.length && sync ? '; ' : '',
            sync ? syncText(sync) : (syncing.length ? '' : 'no sync yet'),
            net.syncs_completed != null ? h('span', { class: 'muted' }, ` (${net.syncs_completed} completed)`) : null)))));
  }

  async function loadPeers() {
    const { peers } = await get('/v1/peers');
    if (!peers.length) {
      mount(peersBox, h('p', { class: 'muted' }, 'No peers connected. Join someone\'s invite below, or wait for peers on your network.'));
      return;
    }
    mount(peersBox, h('div', { class: 'table-wrap' }, h('table', { class: 'peers' },
      h('caption', { class: 'visually-hidden' }, 'Connected peers'),
      h('thead', {}, h('tr', {}, ['Peer', 'Address', 'Direction', 'Software', 'Strikes'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, peers.map((p) => h('tr', { dataset: { peer: p.peer_id } },
        h('td', {}, h('code', { title: p.peer_id }, short(p.peer_id, 16))),
        h('td', {}, h('code', { class: 'wrap' }, p.address || '')),
        h('td', {}, p.direction || ''),
        h('td', {}, p.agent || ''),
        h('td', {}, String(p.strikes ?? 0))))))));
  }

  async function loadInvite() {
    try {
      const inv = await get('/v1/invite');
      mount(inviteBox,
        h('p', {}, 'Give this invite to someone starting their own node: with it, theirs finds the network through yours.'),
        copyable('invite-text', 'invite', inv.invite));
    } catch (e) {
      mount(inviteBox, h('p', { class: 'muted' }, `No invite yet: ${e.message}`));
    }
  }

  async function loadBlocks() {
    const { blocked } = await get('/v1/blocks');
    if (!blocked.length) {
      mount(blocksBox, h('p', { class: 'muted' }, 'You have blocked nobody. Block a seller from their listing page.'));
      return;
    }
    mount(blocksBox, h('ul', { class: 'plain' }, blocked.map((b) => {
      const btn = h('button', {
        type: 'button', class: 'secondary', 'aria-label': `Unblock ${b.seller}`,
        onclick: async () => {
          btn.disabled = true;
          try {
            await del(`/v1/blocks/${encodeURIComponent(b.seller)}`);
            notice('Unblocked: their listings come back as peers offer them.');
            await loadBlocks();
          } catch (e) { notice(e.message, 'error'); btn.disabled = false; }
        },
      }, 'Unblock');
      return h('li', { class: 'panel blocked', dataset: { seller: b.seller } },
        h('code', { class: 'wrap' }, b.seller), h('span', { class: 'muted' }, ` · since ${when(b.since)} `), btn);
    })));
  }

  async function logout(e) {
    e.preventDefault();
    try {
      await post('/v1/ui/logout', {});
    } catch (err) {
      if (err.status !== 401) { notice(err.message, 'error'); return; }
    }
    location.reload();
  }

  await Promise.all([loadStatus(), loadPeers(), loadInvite(), loadBlocks()]);
  // Uptime, sync and peers move on their own; a quiet refresh every 10 s while the page is open.
  const timer = setInterval(() => {
    if (document.hidden) return;
    loadStatus().catch(() => {});
    loadPeers().catch(() => {});
  }, 10000);
  return () => clearInterval(timer);
}

function following(f) {
  if (!f) return 'unknown';
  if (f.everything) return 'every area';
  const cells = (f.cells || []).length;
  return `${cells} area cell(s)${f.radius_km ? ` within ${f.radius_km} km` : ''}${f.shipping ? ', plus shipped items' : ''}`;
}

function syncText(s) {
  const p = s.progress || {};
  const done = s.finished_at ? `last finished ${ago(s.finished_at)}` : `started ${ago(s.started_at)}`;
  return `${done} with ${short(s.peer, 14)}: ${p.stored ?? 0} stored, ${p.missing ?? 0} missing${p.reconciled ? ', in step' : ''}`;
}

function joinForm(after) {
  const input = h('input', { name: 'invite', id: 'join-invite', autocomplete: 'off', required: true, placeholder: 'swapmeet:…' });
  const result = h('div', { id: 'join-result', role: 'status' });
  const button = h('button', { type: 'submit', id: 'join-submit' }, 'Join');
  const form = h('form', {
    class: 'stack panel', id: 'join-form', novalidate: true,
    onsubmit: async (e) => {
      e.preventDefault();
      clearErrors(form);
      result.replaceChildren();
      if (!input.value.trim()) { showError(form, { field: 'invite', message: 'Paste an invite (it starts with swapmeet:).' }); return; }
      button.disabled = true;
      try {
        const r = await post('/v1/join', { invite: input.value.trim() });
        mount(result, h('p', {}, r.connected ? `Connected to ${short(r.peer_id, 16)}.` : `Added ${short(r.peer_id, 16)} to the address book; not connected yet.`),
          (r.errors || []).length ? h('ul', { class: 'muted' }, r.errors.map((x) => h('li', {}, typeof x === 'string' ? x : JSON.stringify(x)))) : null);
        input.value = '';
        after();
      } catch (err) {
        showError(form, err);
      } finally {
        button.disabled = false;
      }
    },
  },
  field('join-invite', 'Join someone\'s invite', input),
  h('div', { class: 'actions' }, button), result);
  return form;
}

/** A label above its control, in a `.field` (where `showError` puts the field's error). */
function field(id, label, control) {
  return h('div', { class: 'field' }, h('label', { for: id }, label), control);
}
