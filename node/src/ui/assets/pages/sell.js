// Sell (`#/sell`) and edit (`#/sell/ID`): the fields of `swapmeet sell`, photos uploaded as
// soon as they are chosen (drag and drop or the file picker), the API's errors next to the
// field they concern. Controls are named as the API's fields so `showError` finds them.

import { get, post, put, del, blobUrl } from '../api.js';
import { h, mount, showError, clearErrors, notice } from '../dom.js';
import { CATEGORIES, CONDITIONS, CURRENCIES, label, home, tidy } from './search.js';

const MAX_PHOTOS = 10;
const MAX_BYTES = 20 * 1024 * 1024;
const LIFETIMES = [[86400, '1 day'], [3 * 86400, '3 days'], [7 * 86400, '1 week'], [14 * 86400, '2 weeks'], [30 * 86400, '30 days']];

function mib(n) { return `${(n / 1048576).toFixed(1)} MiB`; }

/** "250.00 EUR" -> ["250.00", "EUR"]; "free" -> ["free", ""]. */
function splitPrice(text) {
  if (!text) return ['', ''];
  const m = /^(.*?)\s+([A-Z]{3})$/.exec(text.trim());
  return m ? [m[1], m[2]] : [text.trim(), ''];
}

/** A control's label in a `.row`, boxed so an error shown under it stays in its column. */
const col = (labelEl) => h('div', { class: 'field' }, labelEl);

/** The API leaves `field` out of some refusals ("title must not be empty"): read it off the message. */
function withField(err, form) {
  if (err && !err.field && err.message) {
    const m = /^([a-z_]+)\b/.exec(err.message);
    if (m && form.querySelector(`[name="${m[1]}"], [data-field="${m[1]}"]`)) err.field = m[1];
  }
  return tidy(err);
}

export async function render(main, ctx) {
  const editing = ctx.arg || null;
  let orig = null;
  let market = { auto_accept: null, auto_decline: null, pickup_at: null };
  if (editing) {
    orig = await get(`/v1/listings/${encodeURIComponent(editing)}`);
    if (!ctx.me || orig.seller !== ctx.me.seller) {
      mount(main, h('section', { class: 'message' }, h('h1', {}, 'Not your listing'),
        h('p', {}, 'Only the seller can edit a listing. '), h('a', { href: ctx.link('listing', editing) }, 'Open the listing')));
      return undefined;
    }
    market = await get(`/v1/listings/${encodeURIComponent(editing)}/market`).catch(() => market);
  }
  const hm = await home();
  const [amount, cur] = orig ? (orig.price_minor === null ? ['free', ''] : splitPrice(orig.price)) : ['', ''];
  const stripCur = (p) => (p ? splitPrice(p)[0] : '');
  const initial = {
    title: orig ? orig.title : '',
    price: amount,
    currency: cur || hm.currency || '',
    description: orig ? orig.description || '' : '',
    condition: orig ? orig.condition : 'good',
    category: orig ? orig.category : '',
    tags: orig && orig.tags ? orig.tags.join(', ') : '',
    location: '',
    place: orig ? orig.place || '' : '',
    quantity: orig ? String(orig.quantity) : '1',
    pickup: orig && orig.delivery ? orig.delivery.pickup : true,
    shipping: orig && orig.delivery ? orig.delivery.shipping : false,
    ships_to: orig && orig.delivery ? (orig.delivery.ships_to || []).join(', ') : '',
    expires_in_secs: editing ? '' : String(14 * 86400),
    auto_accept: stripCur(market.auto_accept),
    auto_decline: stripCur(market.auto_decline),
    pickup_at: market.pickup_at || '',
  };

  // Photos, in order: {hash, thumb, url (object URL or blob), name, state, error, li}
  const photos = [];
  const urls = [];
  if (orig) {
    for (const img of orig.images || []) {
      photos.push({ hash: img.hash, url: `${blobUrl(img.thumb ? img.thumb.hash : img.hash)}?listing=${encodeURIComponent(orig.id)}`, name: 'photo', state: 'ready', existing: true });
    }
  }
  const origPhotos = photos.map((p) => p.hash).join(',');

  const previews = h('ul', { class: 'previews', id: 'sell-previews', 'aria-label': 'Photos' });
  const fileInput = h('input', { type: 'file', id: 'sell-photo-input', multiple: true, accept: 'image/jpeg,image/png,image/webp', class: 'file-input', onchange: (ev) => { addFiles(ev.target.files); ev.target.value = ''; } });
  const drop = h('div', { class: 'drop', id: 'sell-drop', 'data-field': 'photos', tabindex: '-1',
    ondragover: (ev) => { ev.preventDefault(); drop.classList.add('over'); },
    ondragenter: (ev) => { ev.preventDefault(); drop.classList.add('over'); },
    ondragleave: () => drop.classList.remove('over'),
    ondrop: (ev) => { ev.preventDefault(); drop.classList.remove('over'); if (ev.dataTransfer) addFiles(ev.dataTransfer.files); } },
  h('p', {}, 'Drag photos here, or'),
  h('label', { for: 'sell-photo-input', class: 'button secondary file-label' }, 'Choose photos'),
  fileInput,
  h('p', { class: 'muted small' }, `JPEG, PNG or WebP, up to ${MAX_PHOTOS} photos of at most 20 MiB. The first is the cover. Location data and other metadata are removed before anything is published.`));

  function drawPhotos() {
    mount(previews, photos.map((p, i) => {
      const li = h('li', { class: `photo ${p.state}` },
        p.isImage === false ? h('div', { class: 'file-box' }, p.name) : h('img', { src: p.url, alt: p.existing ? `Photo ${i + 1}` : `Preview of ${p.name}` }),
        h('span', { class: 'photo-state' }, p.state === 'uploading' ? 'Uploading…' : p.state === 'ready' ? (i === 0 ? 'Cover' : `Photo ${i + 1}`) : 'Not added'),
        p.error ? h('p', { class: 'photo-error', role: 'alert' }, p.error) : null,
        h('button', { type: 'button', class: 'secondary remove-photo', 'aria-label': `Remove ${p.existing ? `photo ${i + 1}` : p.name}`, onclick: () => removePhoto(p) }, 'Remove'));
      return li;
    }));
  }

  function removePhoto(p) {
    const i = photos.indexOf(p);
    if (i >= 0) photos.splice(i, 1);
    // An upload no listing names is deleted now rather than kept 24 h; the node keeps photos
    // a listing names whatever is asked here.
    if (p.hash && !p.existing) del(`/v1/photos/${encodeURIComponent(p.hash)}`).catch(() => {});
    drawPhotos();
    fileInput.focus();
  }

  function addFiles(list) {
    for (const file of Array.from(list || [])) {
      const p = { name: file.name, state: 'uploading', isImage: /^image\//.test(file.type) };
      if (p.isImage) { p.url = URL.createObjectURL(file); urls.push(p.url); }
      photos.push(p);
      if (photos.filter((x) => x.state !== 'error').length > MAX_PHOTOS) {
        p.state = 'error';
        p.error = `${file.name}: a listing has at most ${MAX_PHOTOS} photos`;
      } else if (file.size > MAX_BYTES) {
        p.state = 'error';
        p.error = `${file.name}: ${mib(file.size)} is too big, the limit is 20 MiB`;
      } else {
        p.pending = post(`/v1/photos?name=${encodeURIComponent(file.name)}`, file).then((r) => {
          p.hash = r.photo.hash;
          p.state = 'ready';
        }, (e) => {
          p.state = 'error';
          p.error = e.message || String(e);
        }).finally(() => { p.pending = null; drawPhotos(); });
      }
    }
    drawPhotos();
  }

  const opt = (v, t, sel) => h('option', { value: v, selected: v === sel }, t);
  const form = h('form', { class: 'stack sell-form', id: 'sell-form', novalidate: true, onsubmit: submit },
    h('label', {}, 'Title', h('input', { name: 'title', id: 'sell-title', maxlength: '140', required: true, value: initial.title })),
    h('div', { class: 'row' },
      col(h('label', {}, 'Price', h('span', { class: 'hint' }, 'A number, or "free"'),
        h('input', { name: 'price', id: 'sell-price', inputmode: 'decimal', required: true, autocomplete: 'off', value: initial.price }))),
      col(h('label', {}, 'Currency',
        h('select', { name: 'currency', id: 'sell-currency' },
          opt('', hm.currency ? `Home currency (${hm.currency})` : 'Home currency', initial.currency === hm.currency ? '' : initial.currency),
          [...new Set([...(initial.currency ? [initial.currency] : []), ...CURRENCIES])].map((c) => opt(c, c, initial.currency === hm.currency ? '' : initial.currency))))),
      col(h('label', {}, 'Quantity', h('input', { name: 'quantity', id: 'sell-quantity', type: 'number', min: '1', value: initial.quantity })))),
    h('div', { class: 'row' },
      col(h('label', {}, 'Condition', h('select', { name: 'condition', id: 'sell-condition' }, CONDITIONS.map((c) => opt(c, label(c), initial.condition))))),
      col(h('label', {}, 'Category', h('select', { name: 'category', id: 'sell-category' },
        opt('', 'Choose…', initial.category), CATEGORIES.map((c) => opt(c, label(c), initial.category)))))),
    h('label', {}, 'Description', h('textarea', { name: 'description', id: 'sell-description', maxlength: '5000', rows: '6' }, initial.description)),
    h('fieldset', { class: 'photos' }, h('legend', {}, 'Photos'), drop, previews),
    h('label', {}, 'Tags', h('span', { class: 'hint' }, 'Up to 10, separated by commas, e.g. road, shimano'),
      h('input', { name: 'tags', id: 'sell-tags', value: initial.tags })),
    h('fieldset', {}, h('legend', {}, 'Where and how'),
      h('div', { class: 'row' },
        col(h('label', {}, 'Location (LAT,LON)', h('span', { class: 'hint' }, editing ? 'Empty: where it is now' : 'Empty: your home location'),
          h('input', { name: 'location', id: 'sell-location', placeholder: '52.52,13.40', value: initial.location }))),
        col(h('label', {}, 'Place name', h('span', { class: 'hint' }, 'Shown with the location, e.g. Kreuzberg'),
          h('input', { name: 'place', id: 'sell-place', value: initial.place })))),
      h('div', { class: 'row checks' },
        h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'pickup', id: 'sell-pickup', checked: initial.pickup }), 'Can be picked up'),
        h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'shipping', id: 'sell-shipping', checked: initial.shipping }), 'Can be shipped')),
      h('label', {}, 'Ships to', h('span', { class: 'hint' }, 'Country codes, e.g. DE, FR'),
        h('input', { name: 'ships_to', id: 'sell-ships-to', value: initial.ships_to })),
      h('label', {}, editing ? 'New lifetime' : 'Listed for',
        h('select', { name: 'expires_in_secs', id: 'sell-expires' },
          editing ? opt('', 'Keep the current expiry', '') : null,
          LIFETIMES.map(([s, t]) => opt(String(s), t, initial.expires_in_secs))))),
    h('details', { class: 'market' }, h('summary', {}, 'Offers and pickup (private, kept on your node)'),
      h('div', { class: 'stack' },
        h('div', { class: 'row' },
          col(h('label', {}, 'Accept offers at or above', h('span', { class: 'hint' }, 'Per item, in the listing\'s currency'),
            h('input', { name: 'auto_accept', id: 'sell-auto-accept', inputmode: 'decimal', value: initial.auto_accept }))),
          col(h('label', {}, 'Decline offers at or below', h('span', { class: 'hint' }, 'Per item'),
            h('input', { name: 'auto_decline', id: 'sell-auto-decline', inputmode: 'decimal', value: initial.auto_decline })))),
        h('label', {}, 'Pickup address', h('span', { class: 'hint' }, 'Sent to the buyer only once you have a deal'),
          h('input', { name: 'pickup_at', id: 'sell-pickup-at', maxlength: '200', value: initial.pickup_at })))),
    h('div', { class: 'actions' },
      h('button', { type: 'submit', id: 'sell-submit' }, editing ? 'Save changes' : 'Publish listing'),
      editing ? h('a', { class: 'button secondary', href: ctx.link('listing', editing) }, 'Cancel') : null));

  async function submit(ev) {
    ev.preventDefault();
    clearErrors(form);
    const btn = form.querySelector('#sell-submit');
    btn.disabled = true;
    try {
      await Promise.all(photos.map((p) => p.pending).filter(Boolean));
      const el = form.elements;
      const v = {
        title: el.title.value.trim(),
        price: el.price.value.trim(),
        currency: el.currency.value,
        description: el.description.value,
        condition: el.condition.value,
        category: el.category.value,
        tags: el.tags.value.trim(),
        location: el.location.value.trim(),
        place: el.place.value.trim(),
        quantity: el.quantity.value.trim(),
        pickup: el.pickup.checked,
        shipping: el.shipping.checked,
        ships_to: el.ships_to.value.trim(),
        expires_in_secs: el.expires_in_secs.value,
        auto_accept: el.auto_accept.value.trim(),
        auto_decline: el.auto_decline.value.trim(),
        pickup_at: el.pickup_at.value.trim(),
      };
      const priceText = (p, c) => (p && c && !/[a-z]/i.test(p) ? `${p} ${c}` : p);
      const body = {};
      const changed = (k) => !editing || String(v[k]) !== String(k === 'currency' ? initial.currency : initial[k]);
      const set = (k, value) => { if (changed(k)) body[k] = value; };
      if (!editing || changed('price') || changed('currency')) body.price = priceText(v.price, v.currency);
      set('title', v.title);
      set('description', v.description);
      set('condition', v.condition);
      if (v.category) set('category', v.category);
      set('tags', v.tags ? v.tags.split(',').map((t) => t.trim()).filter(Boolean) : []);
      if (v.location) body.location = v.location;
      set('place', v.place);
      if (v.quantity) set('quantity', Number(v.quantity));
      set('pickup', v.pickup);
      set('shipping', v.shipping);
      set('ships_to', v.ships_to ? v.ships_to.split(/[,\s]+/).map((t) => t.trim().toUpperCase()).filter(Boolean) : []);
      if (v.expires_in_secs) body.expires_in_secs = Number(v.expires_in_secs);
      for (const k of ['auto_accept', 'auto_decline', 'pickup_at']) {
        if (editing ? changed(k) : v[k]) body[k] = v[k] ? (k === 'pickup_at' ? v[k] : priceText(v[k], v.currency)) : null;
      }
      if (!editing && !body.tags.length) delete body.tags;
      if (!editing && !body.ships_to.length) delete body.ships_to;
      if (!editing && !v.place) delete body.place;
      const hashes = photos.filter((p) => p.state === 'ready').map((p) => p.hash);
      if (!editing ? hashes.length : hashes.join(',') !== origPhotos) body.photos = hashes;
      if (!editing && !v.title) throw { field: 'title', message: 'title must not be empty' };
      if (!editing && !v.price) throw { field: 'price', message: 'give a price (a number, or "free")' };
      const r = editing
        ? await put(`/v1/listings/${encodeURIComponent(editing)}`, body)
        : await post('/v1/listings', body);
      notice(editing ? (r.changed === false ? 'Nothing changed.' : 'Listing updated.') : 'Your listing is published.');
      ctx.go('listing', r.id);
    } catch (e) {
      showError(form, withField(e, form));
    } finally {
      btn.disabled = false;
    }
  }

  mount(main,
    h('h1', {}, editing ? `Edit: ${orig.title}` : 'Sell an item'),
    form);
  drawPhotos();
  return () => { for (const u of urls) URL.revokeObjectURL(u); };
}
