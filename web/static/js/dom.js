// Small DOM helpers: h() builds elements, the rest are shared widgets.

// h(tag, attrs, ...children): attrs starting with "on" are listeners,
// "class", "for", "html" (trusted markup only) and booleans are handled.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'for') el.htmlFor = v;
    else if (k === 'value') el.value = v;
    else if (k === 'checked' || k === 'disabled' || k === 'selected' || k === 'hidden' || k === 'multiple') el[k] = !!v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c == null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

let seq = 0;
export const uid = (p = 'f') => `${p}${++seq}`;

// field: a label above a control (the control gets an id if it has none).
export function field(label, control, hint) {
  if (!control.id) control.id = uid();
  return h('div', { class: 'field' }, h('label', { for: control.id }, label), control,
    hint ? h('small', { class: 'muted' }, hint) : null);
}

export function select(options, value, attrs = {}) {
  return h('select', attrs, options.map((o) => {
    const [v, t] = Array.isArray(o) ? o : [o, o];
    return h('option', { value: v, selected: v === value }, t);
  }));
}

export function button(text, onclick, attrs = {}) {
  return h('button', { type: 'button', onclick, ...attrs }, text);
}

export function toast(msg, kind = 'ok') {
  const t = document.getElementById('toast');
  t.className = kind;
  t.textContent = msg;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.textContent = ''; t.className = ''; }, 4000);
}

export function errorBox(err) {
  const d = err.details || {};
  return h('div', { class: 'error', role: 'alert' }, h('strong', {}, err.message || String(err)),
    d.field ? h('span', {}, ` (field ${d.field})`) : null, d.hint ? h('div', {}, d.hint) : null);
}

// table(columns, rows): columns are [title, row => cell].
export function table(columns, rows, attrs = {}) {
  return h('table', attrs,
    h('thead', {}, h('tr', {}, columns.map(([t]) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, rows.length ? rows.map((r) => h('tr', {}, columns.map(([, f]) => h('td', {}, f(r)))))
      : h('tr', {}, h('td', { colspan: columns.length, class: 'muted' }, 'Nothing to show.'))));
}

export const fmtTime = (t) => (t && !t.startsWith('0001') ? new Date(t).toLocaleString() : '');

// confirmDialog shows a modal with a message and a confirming button
// named verb; resolves true when confirmed.
export function confirmDialog(message, verb) {
  return new Promise((resolve) => {
    const dlg = h('dialog', { class: 'confirm', 'aria-label': verb },
      h('p', {}, message),
      h('div', { class: 'buttons' },
        button(verb, () => { dlg.close(); resolve(true); }, { class: 'danger' }),
        button('Cancel', () => { dlg.close(); resolve(false); })));
    dlg.addEventListener('close', () => { dlg.remove(); resolve(false); });
    document.body.append(dlg);
    dlg.showModal();
  });
}

export function download(name, text, type) {
  const a = h('a', { href: URL.createObjectURL(new Blob([text], { type })), download: name });
  document.body.append(a);
  a.click();
  setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
}

export function debounce(f, ms) {
  let t;
  return (...a) => { clearTimeout(t); t = setTimeout(() => f(...a), ms); };
}

const children = (c) => c.flat(Infinity).filter((x) => x != null && x !== false);
// put replaces el's children, add appends; both skip null and false.
export function put(el, ...c) { el.replaceChildren(...children(c)); }
export function add(el, ...c) { el.append(...children(c)); }
