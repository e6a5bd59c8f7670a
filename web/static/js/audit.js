// Audit: the effective access matrix for chosen users or groups, a
// resource type or filter and actions; every cell names what grants it.
import { h, button, field, select, errorBox, download, uid, put, add } from './dom.js';
import { api, all } from './api.js';
import { vocabulary } from './vocab.js';

const STORED = ['app', 'space', 'app.object', 'schedule', 'user', 'group', 'extension', 'theme', 'apikey', 'webintegration'];

export async function render(main) {
  const v = await vocabulary();
  const [users, groups] = await Promise.all([all('users'), all('groups')]);
  const multi = (items, label) => {
    const filter = h('input', { type: 'search', placeholder: 'filter…' });
    const sel = h('select', { multiple: true, size: 6 }, items.map((x) => h('option', { value: x.id }, x.name)));
    filter.addEventListener('input', () => {
      const f = filter.value.toLowerCase();
      for (const o of sel.options) o.hidden = !o.text.toLowerCase().includes(f);
    });
    return [h('div', { class: 'picker' }, field(`Search ${label.toLowerCase()}`, filter), field(label, sel)), sel];
  };
  const [userBox, userSel] = multi(users, 'Users');
  const [groupBox, groupSel] = multi(groups, 'Groups');
  const type = select([['app', 'app'], ...STORED.filter((t) => t !== 'app').map((t) => [t, t])], 'app');
  const filter = h('input', { placeholder: 'optional, e.g. App_*' });
  const env = select([['hub', 'Hub'], ['console', 'Management console']], 'hub');
  const acts = h('fieldset', { class: 'actions' }, h('legend', {}, 'Actions'),
    v.actions.map((a) => {
      const cb = h('input', { type: 'checkbox', id: uid('aa'), value: a, checked: ['read', 'update', 'delete'].includes(a) });
      return h('span', { class: 'check' }, cb, h('label', { for: cb.id }, a));
    }));
  const out = h('section', { id: 'matrix', 'aria-label': 'Access matrix' });
  const body = () => ({
    users: [...userSel.selectedOptions].map((o) => o.value),
    groups: [...groupSel.selectedOptions].map((o) => o.value),
    resourceType: type.value, resourceFilter: filter.value.trim(), environment: env.value,
    actions: [...acts.querySelectorAll('input:checked')].map((x) => x.value),
  });
  add(main, h('h1', {}, 'Audit'),
    h('p', { class: 'muted' }, 'Who may do what: pick users or groups (none: everybody), a resource type and actions.'),
    h('div', { class: 'grid2' }, userBox, groupBox),
    h('div', { class: 'inline' }, field('Resource type', type), field('Resource filter', filter), field('Environment', env)),
    acts,
    h('div', { class: 'buttons' }, button('Show matrix', () => show(out, body()), { class: 'primary' }),
      button('Download CSV', () => csv(out, body()))),
    out);
}

const DENY = {
  no_license: 'no license', license_excluded: 'license excluded', user_disabled: 'user disabled',
  analyzer_license: 'analyzer license is too weak', capacity_exhausted: 'capacity exhausted', section_access: 'section access',
  anonymous: 'anonymous',
};

async function show(out, body) {
  put(out, h('p', { class: 'muted' }, 'Computing…'));
  let res;
  try {
    res = (await api('POST', 'audit?limit=1000', body)).data;
  } catch (e) { put(out, errorBox(e)); return; }
  const actions = body.actions;
  const rows = new Map();
  for (const c of res.cells) {
    const k = `${c.userId}|${c.resourceType}|${c.resourceId}`;
    if (!rows.has(k)) rows.set(k, { user: c.userName || c.userId, type: c.resourceType, id: c.resourceId, name: c.resourceName || c.resourceId, cells: {} });
    rows.get(k).cells[c.action] = c;
  }
  const cell = (c) => {
    if (!c) return h('td', {}, '');
    const why = c.allow ? c.grants.map((g) => `${g.kind}: ${g.name || g.id}`) : c.denies.map((d) => `refused: ${DENY[d.reason] || d.reason}`);
    const rulesNamed = c.grants.filter((g) => g.kind === 'rule').map((g) => g.name || g.id);
    return h('td', { class: c.allow ? 'allow' : 'deny', title: why.join('\n') || 'nothing grants it', tabindex: '0',
      'data-action': c.action },
      h('span', { class: 'mark' }, c.allow ? '✓ allowed' : '✗ denied'),
      h('small', { class: 'why' }, rulesNamed.length ? rulesNamed.join(', ') : (why[0] || '')));
  };
  put(out, 
    h('h2', {}, `Access matrix (${res.environment})`),
    h('p', { class: 'muted' }, `${res.cells.length} of ${res.total} cells. Hover or focus a cell for everything that grants or refuses it.`),
    h('table', { class: 'matrix' },
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'User'), h('th', { scope: 'col' }, 'Resource'),
        actions.map((a) => h('th', { scope: 'col' }, a)))),
      h('tbody', {}, [...rows.values()].map((r) => h('tr', { 'data-user': r.user, 'data-resource': r.name },
        h('th', { scope: 'row' }, r.user),
        h('td', {}, `${r.name} `, h('span', { class: 'muted' }, `(${r.type})`)),
        actions.map((a) => cell(r.cells[a])))))));
}

async function csv(out, body) {
  try {
    const res = await api('POST', 'audit', body, { Accept: 'text/csv' });
    download('audit.csv', res.data, 'text/csv');
  } catch (e) { put(out, errorBox(e)); }
}
