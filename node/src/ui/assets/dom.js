// Small DOM helpers: building elements without innerHTML (nothing a peer sends is ever parsed
// as HTML), money and time formats, and the errors shown next to the field they concern.

/**
 * h('a', {href: '#/x', class: 'c', onclick: fn}, 'text', child, [more])
 * Attributes starting with `on` become listeners; `false`/null/undefined attributes are left
 * out; `true` sets an empty attribute. Children may be strings, nodes, arrays, null.
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === false || v === null || v === undefined) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'value' && 'value' in el) el.value = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

/** Replaces an element's content. */
export function mount(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

const minorDigits = { JPY: 0, KRW: 0, HUF: 0, CLP: 0, ISK: 0 };

/** "249.00 EUR" from minor units, in the user's locale. */
export function money(minor, currency) {
  if (minor === null || minor === undefined) return 'price on request';
  const digits = minorDigits[currency] ?? 2;
  const value = minor / 10 ** digits;
  try {
    return new Intl.NumberFormat(undefined, { style: 'currency', currency, minimumFractionDigits: digits, maximumFractionDigits: digits }).format(value);
  } catch {
    return `${value.toFixed(digits)} ${currency || ''}`.trim();
  }
}

/** Minor units from what a user typed ("249", "249.5", "249,50"); NaN when not a price. */
export function toMinor(text, currency) {
  const digits = minorDigits[currency] ?? 2;
  const t = String(text).trim().replace(',', '.');
  if (!/^\d+(\.\d+)?$/.test(t)) return NaN;
  return Math.round(parseFloat(t) * 10 ** digits);
}

/** A date and time from Unix seconds, in the user's locale. */
export function when(secs) {
  if (!secs) return '';
  return new Date(secs * 1000).toLocaleString();
}

/** "3 min ago" from Unix seconds. */
export function ago(secs) {
  if (!secs) return '';
  const d = Math.max(0, Date.now() / 1000 - secs);
  if (d < 60) return 'just now';
  if (d < 3600) return `${Math.floor(d / 60)} min ago`;
  if (d < 86400) return `${Math.floor(d / 3600)} h ago`;
  return `${Math.floor(d / 86400)} d ago`;
}

/** Removes the errors `showError` put in a form. */
export function clearErrors(form) {
  form.querySelectorAll('.field-error').forEach((e) => e.remove());
  form.querySelectorAll('[aria-invalid]').forEach((e) => {
    e.removeAttribute('aria-invalid');
    e.removeAttribute('aria-describedby');
  });
  const general = form.querySelector('.form-error');
  if (general) general.replaceChildren();
}

/**
 * Shows an API error in a form: next to the control for `err.field` (an element with
 * `data-field="<field>"`, else `name="<field>"`), linked to it for screen readers; otherwise in
 * the form's `.form-error` box (created at its top when missing).
 */
export function showError(form, err) {
  const field = err && err.field;
  const message = (err && err.message) || String(err);
  const control = field && (form.querySelector(`[data-field="${CSS.escape(field)}"]`) || form.querySelector(`[name="${CSS.escape(field)}"]`));
  if (control) {
    const id = `err-${field.replace(/[^a-z0-9_-]/gi, '-')}`;
    const note = h('p', { class: 'field-error', id, role: 'alert' }, message);
    control.setAttribute('aria-invalid', 'true');
    control.setAttribute('aria-describedby', id);
    (control.closest('label, .field') || control).after(note);
    control.focus();
    return;
  }
  let box = form.querySelector('.form-error');
  if (!box) {
    box = h('div', { class: 'form-error', role: 'alert' });
    form.prepend(box);
  }
  box.replaceChildren(message);
}

/** A short message in the page's status region. */
export function notice(text, kind = 'ok') {
  const el = document.getElementById('notice');
  if (!el) return;
  el.className = `notice ${kind}`;
  el.textContent = text;
  clearTimeout(notice.timer);
  notice.timer = setTimeout(() => { el.textContent = ''; el.className = 'notice'; }, 6000);
}

/** The first characters of a long id, for display (the full id goes in `title`). */
export function short(id, n = 10) {
  return id && id.length > n ? `${id.slice(0, n)}…` : id || '';
}
