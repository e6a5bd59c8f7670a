// Security rules: the list with search, sort and paging; import and export.
import { h, button, field, table, fmtTime, toast, errorBox, download, debounce, put, add } from './dom.js';
import { api, get } from './api.js';

const PAGE = 50;
const state = { q: '', sort: 'name', order: 'asc', offset: 0 };
const GERUND = { disable: 'disabling', enable: 'enabling', delete: 'deleting' };
// selected rules (id → rule), kept across pages and searches.
const selected = new Map();

const COLUMNS = [
  ['name', 'Name'], ['resourceFilter', 'Resource filter'], [null, 'Actions'], ['context', 'Context'],
  ['type', 'Type'], ['disabled', 'Enabled'], ['updatedAt', 'Last change'],
];

export async function list(main) {
  const search = h('input', { type: 'search', value: state.q, placeholder: 'name, filter, condition, action…' });
  const body = h('div', { id: 'rules-table' });
  const results = h('section', { id: 'results', 'aria-label': 'Impact of the pending changes' });
  const importInput = h('input', { type: 'file', accept: '.yaml,.yml,.json', class: 'file' });
  importInput.addEventListener('change', () => importFile(importInput, load));
  add(main, 
    h('div', { class: 'titlebar' }, h('h1', {}, 'Security rules'),
      h('div', { class: 'buttons' },
        h('a', { class: 'button primary', href: '#/rules/new' }, 'New rule'),
        button('Export', exportRules),
        field('Import rule file', importInput))),
    h('div', { class: 'filters' }, field('Search rules', search)),
    body, results);
  async function load() {
    const q = new URLSearchParams({ q: state.q, sort: state.sort, order: state.order, offset: state.offset, limit: PAGE });
    let page;
    try {
      page = await get(`rules?${q}`);
    } catch (e) {
      put(body, errorBox(e));
      return;
    }
    put(body, render(page, load, results));
  }
  search.addEventListener('input', debounce(() => { state.q = search.value.trim(); state.offset = 0; load(); }, 250));
  await load();
}

function sortHeader(key, title, load) {
  if (!key) return h('th', { scope: 'col' }, title);
  const active = state.sort === key;
  return h('th', { scope: 'col', 'aria-sort': active ? (state.order === 'asc' ? 'ascending' : 'descending') : 'none' },
    button(`${title}${active ? (state.order === 'asc' ? ' ▲' : ' ▼') : ''}`, () => {
      if (active) state.order = state.order === 'asc' ? 'desc' : 'asc';
      else { state.sort = key; state.order = key === 'updatedAt' ? 'desc' : 'asc'; }
      state.offset = 0;
      load();
    }, { class: 'link', 'aria-label': `Sort by ${title}` }));
}

function render(page, load, results) {
  const count = h('span', { 'aria-live': 'polite' });
  const showCount = () => { count.textContent = `${selected.size} selected`; };
  const rows = page.items.map((r) => h('tr', { 'data-rule': r.id },
    h('td', {}, r.type === 'readonly' ? '' : h('label', { class: 'check' }, h('input', { type: 'checkbox', checked: selected.has(r.id),
      onchange: (e) => { if (e.target.checked) selected.set(r.id, r); else selected.delete(r.id); showCount(); } }), 'select')),
    h('td', {}, h('a', { href: `#/rules/${encodeURIComponent(r.id)}` }, r.name)),
    h('td', {}, h('code', {}, r.resourceFilter)),
    h('td', {}, r.actions.join(', ')),
    h('td', {}, r.context),
    h('td', {}, h('span', { class: `tag ${r.type}` }, r.type === 'readonly' ? 'read-only' : r.type)),
    h('td', {}, r.disabled ? 'No' : 'Yes'),
    h('td', {}, fmtTime(r.updatedAt))));
  const from = page.total ? state.offset + 1 : 0;
  const to = state.offset + page.items.length;
  return h('div', {},
    h('table', { class: 'rules' },
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Pick'), COLUMNS.map(([k, t]) => sortHeader(k, t, load)))),
      h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { colspan: 8, class: 'muted' }, 'No rule matches.')))),
    h('div', { class: 'pager' },
      h('span', { 'aria-live': 'polite' }, `${from}–${to} of ${page.total}`),
      button('Previous page', () => { state.offset = Math.max(0, state.offset - PAGE); load(); }, { disabled: state.offset === 0 }),
      button('Next page', () => { state.offset += PAGE; load(); }, { disabled: to >= page.total })),
    h('div', { class: 'buttons pending', role: 'group', 'aria-label': 'Pending changes to the selected rules' },
      h('strong', {}, 'Selected rules: '), count,
      ...Object.entries(GERUND).map(([op, ing]) => button(`Impact of ${ing}`, async () => {
        if (!selected.size) { toast('Select rules first.', 'bad'); return; }
        const { impactOf } = await import('./editor.js');
        impactOf(results, [...selected.keys()].map((id) => ({ op, id })), `Impact of ${ing} ${selected.size} rule(s)`);
      })),
      button('Disable selected', () => setDisabled(true, load)),
      button('Enable selected', () => setDisabled(false, load)),
      button('Clear selection', () => { selected.clear(); load(); })));
}

// setDisabled applies enable or disable to every selected rule (each with
// If-Match on the version listed).
async function setDisabled(disabled, load) {
  let done = 0;
  for (const r of selected.values()) {
    const body = { name: r.name, description: r.description, resourceFilter: r.resourceFilter, condition: r.condition,
      actions: r.actions, context: r.context, disabled };
    try {
      await api('PUT', `rules/${encodeURIComponent(r.id)}`, body, { 'If-Match': `"${r.version}"` });
      done++;
    } catch (e) {
      toast(e.status === 412 ? `“${r.name}” was changed by someone else; reload the list.` : `“${r.name}”: ${e.message}`, 'bad');
      break;
    }
  }
  if (done) toast(`${disabled ? 'Disabled' : 'Enabled'} ${done} rule(s).`);
  selected.clear();
  load();
}

// exportRules downloads the rule set as a rule file (JSON is YAML too).
async function exportRules() {
  const rules = [];
  for (let offset = 0; ; offset += 500) {
    const page = await get(`rules?sort=name&offset=${offset}&limit=500`);
    rules.push(...page.items);
    if (rules.length >= page.total || !page.items.length) break;
  }
  const file = { rules: rules.map(({ id, name, description, resourceFilter, condition, actions, context, disabled, type }) =>
    ({ id, name, description, resourceFilter, condition, actions, context, disabled, type })) };
  download('rules.json', JSON.stringify(file, null, 2), 'application/json');
  toast(`Exported ${rules.length} rules.`);
}

async function importFile(input, load) {
  const f = input.files[0];
  if (!f) return;
  try {
    const res = await api('POST', 'rules/import', await f.text(), { 'Content-Type': 'application/yaml' });
    toast(`Imported ${res.data.imported} rules.`);
    load();
  } catch (e) {
    toast(`Import failed: ${e.message}${e.details.line ? ` (line ${e.details.line}, column ${e.details.column})` : ''}`, 'bad');
  }
  input.value = '';
}
