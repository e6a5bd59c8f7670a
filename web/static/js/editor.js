// The rule editor: Basic and Advanced views, validation as you type,
// templates, Preview and Impact before saving, Save with If-Match,
// enable/disable and delete.
import { h, button, field, select, toast, errorBox, confirmDialog, debounce, uid, put, add } from './dom.js';
import { api, get, post } from './api.js';
import { vocabulary, attributes, filterName, allActions, FUNCTIONS } from './vocab.js';
import { conditionEditor, parseRows, rowsToText } from './condition.js';

const CONTEXTS = [['both', 'Both (hub and console)'], ['hub', 'Hub'], ['console', 'Management console']];
const OPERATORS = [['=', '= (equals, any case)'], ['!=', '!= (differs)'], ['like', 'like (wildcards * ?)'], ['==', '== (exact case)']];
let view = 'basic';

export const editNew = (main) => edit(main, null);

export async function edit(main, id) {
  const v = await vocabulary();
  let rule = { name: '', description: '', resourceFilter: 'App_*', condition: '', actions: ['read'], context: 'both', disabled: false, type: 'custom' };
  let version = 0;
  if (id) {
    const res = await api('GET', `rules/${encodeURIComponent(id)}`);
    rule = res.data;
    version = rule.version;
  }
  const readOnly = rule.type === 'readonly';
  const attrs = attributes(v);
  const words = () => attrs;
  words.functions = () => FUNCTIONS.map(([f]) => f);

  const banner = h('div', { id: 'banner' });
  const diagList = h('ul', { id: 'diagnostics', class: 'diagnostics', 'aria-live': 'polite' });
  const validity = h('p', { id: 'validity', class: 'validity', 'aria-live': 'polite' });
  const results = h('section', { id: 'results', 'aria-label': 'Preview and impact' });
  const panel = h('div', { class: 'panel' });

  const name = h('input', { value: rule.name, required: true, oninput: () => { rule.name = name.value; } });
  const desc = h('input', { value: rule.description, oninput: () => { rule.description = desc.value; } });
  const enabled = h('input', { type: 'checkbox', id: uid(), checked: !rule.disabled, onchange: () => { rule.disabled = !enabled.checked; } });
  const ctx = select(CONTEXTS, rule.context, { onchange: () => { rule.context = ctx.value; validateSoon(); } });
  const actions = h('fieldset', { class: 'actions' }, h('legend', {}, 'Actions'),
    allActions(v).map((a) => {
      const cb = h('input', { type: 'checkbox', id: uid('a'), value: a, checked: rule.actions.includes(a),
        onchange: () => { rule.actions = [...actions.querySelectorAll('input:checked')].map((x) => x.value); validateSoon(); } });
      return h('span', { class: 'check' }, cb, h('label', { for: cb.id }, a));
    }));

  // ruleBody is the rule as the API takes it (no id, version or dates).
  const ruleBody = () => ({ name: rule.name, description: rule.description, resourceFilter: rule.resourceFilter,
    condition: rule.condition, actions: rule.actions, context: rule.context, disabled: rule.disabled });
  let cond;
  const validate = async () => {
    try {
      const res = await post('rules/validate', ruleBody());
      showDiagnostics(res.diagnostics, res.valid);
    } catch (e) {
      if (e.details?.diagnostics) showDiagnostics(e.details.diagnostics, false);
      else put(validity, errorBox(e));
    }
  };
  const validateSoon = debounce(validate, 300);

  function showDiagnostics(diags, valid) {
    cond?.setDiagnostics(diags);
    const errors = diags.filter((d) => d.severity !== 'warning').length;
    validity.className = `validity ${valid ? 'ok' : 'bad'}`;
    validity.textContent = valid ? (diags.length ? `Valid, with ${diags.length} warning(s)` : 'Valid') : `${errors} error${errors === 1 ? '' : 's'}`;
    put(diagList, ...diags.map((d) => h('li', { class: d.severity, 'data-line': d.line, 'data-column': d.column },
      button(`Line ${d.line}, column ${d.column}`, () => { if (view !== 'advanced') setView('advanced'); cond.moveTo(d.line, d.column); }, { class: 'link' }),
      h('span', {}, ` ${d.field && d.field !== 'condition' ? `${d.field}: ` : ''}${d.message}`),
      d.hint ? h('div', { class: 'hint' }, `Hint: ${d.hint}`) : null)));
  }

  function basicPanel() {
    const types = [['*', 'Any resource (*)'], ...v.resourceTypes.map((t) => [`${filterName(t)}_*`, filterName(t)])];
    const known = types.some(([f]) => f === rule.resourceFilter.trim());
    const typeSel = select(known ? types : [[rule.resourceFilter, `${rule.resourceFilter} (set in Advanced)`], ...types], rule.resourceFilter.trim(),
      { onchange: () => { rule.resourceFilter = typeSel.value; validateSoon(); } });
    const rows = parseRows(rule.condition);
    const box = h('div', { class: 'rows' });
    if (rows === null) {
      add(box, h('p', { class: 'notice' }, 'This condition is more than simple rows; edit it in the Advanced view.'),
        h('pre', { class: 'condition-text' }, rule.condition));
    } else {
      const model = rows.length ? rows : [{ join: 'and', attr: 'user.group', op: '=', value: '' }];
      const redraw = () => {
        put(box, ...model.map((r, i) => {
          const set = (k) => (e) => { r[k] = e.target.value; rule.condition = rowsToText(model); validateSoon(); };
          return h('div', { class: 'row', role: 'group', 'aria-label': `Condition ${i + 1}` },
            i ? field('Join', select([['and', 'and'], ['or', 'or']], r.join, { onchange: set('join') })) : h('span', { class: 'join-spacer' }),
            field('Attribute', select(attrs.filter((a) => !a.includes('@')), r.attr, { onchange: set('attr') })),
            field('Operator', select(OPERATORS, r.op, { onchange: set('op') })),
            field('Value', h('input', { value: r.value, oninput: set('value') })),
            button('Remove', () => { model.splice(i, 1); rule.condition = rowsToText(model); redraw(); validateSoon(); }, { 'aria-label': `Remove condition ${i + 1}` }));
        }), button('Add condition', () => { model.push({ join: 'and', attr: 'user.group', op: '=', value: '' }); redraw(); }));
      };
      redraw();
    }
    return [field('Resource type', typeSel), h('fieldset', {}, h('legend', {}, 'Conditions'), box)];
  }

  function advancedPanel() {
    const filter = h('input', { id: 'resource-filter', value: rule.resourceFilter, spellcheck: 'false',
      oninput: () => { rule.resourceFilter = filter.value; validateSoon(); } });
    cond = conditionEditor({ value: rule.condition, words, onchange: (t) => { rule.condition = t; validateSoon(); } });
    return [field('Resource filter', filter, 'Comma-separated: App_*, Space_<id>, Prefix*, *'), cond.el];
  }

  function setView(next) {
    view = next;
    cond = null;
    for (const b of tabs.querySelectorAll('button')) b.setAttribute('aria-pressed', String(b.dataset.view === view));
    put(panel, ...(view === 'basic' ? basicPanel() : advancedPanel()));
    validate();
  }
  const tabs = h('div', { class: 'tabs', role: 'group', 'aria-label': 'View' },
    button('Basic', () => setView('basic'), { 'data-view': 'basic' }),
    button('Advanced', () => setView('advanced'), { 'data-view': 'advanced' }));

  let template = null;
  if (!id) {
    const { items } = await get('rules/templates');
    const sel = select([['', 'Choose a template…'], ...items.map((t, i) => [String(i), t.name])], '');
    template = h('div', { class: 'inline' }, field('Template', sel), button('Use template', () => {
      const t = items[Number(sel.value)];
      if (!t) return;
      Object.assign(rule, { name: rule.name || t.name, description: t.description, resourceFilter: t.resourceFilter,
        condition: t.condition, actions: t.actions, context: t.context || 'both' });
      name.value = rule.name; desc.value = rule.description; ctx.value = rule.context;
      for (const cb of actions.querySelectorAll('input')) cb.checked = rule.actions.includes(cb.value);
      setView(view);
    }));
  }

  async function save() {
    if (!rule.name.trim()) { toast('The rule needs a name.', 'bad'); name.focus(); return; }
    const body = ruleBody();
    try {
      if (id) await api('PUT', `rules/${encodeURIComponent(id)}`, body, { 'If-Match': `"${version}"` });
      else await api('POST', 'rules', body);
      toast(`Saved rule “${rule.name}”.`);
      location.hash = '#/rules';
    } catch (e) {
      if (e.status === 412) {
        put(banner, h('div', { class: 'conflict', role: 'alert' },
          h('strong', {}, 'This rule was changed by someone else since you opened it. '),
          'Your changes were not saved. Reload to see the current version (your edits here are lost), then make them again.',
          button('Reload', () => edit(put(main, ) || main, id))));
        banner.querySelector('button').focus();
      } else if (e.details?.diagnostics) {
        showDiagnostics(e.details.diagnostics, false);
        toast(`Not saved: ${e.message}`, 'bad');
      } else put(banner, errorBox(e));
    }
  }

  async function remove() {
    if (!await confirmDialog(`Delete the rule “${rule.name}”? This cannot be undone.`, 'Delete')) return;
    try {
      await api('DELETE', `rules/${encodeURIComponent(id)}`);
      toast(`Deleted rule “${rule.name}”.`);
      location.hash = '#/rules';
    } catch (e) { put(banner, errorBox(e)); }
  }

  add(main, 
    h('div', { class: 'titlebar' }, h('h1', {}, id ? `Edit rule: ${rule.name}` : 'New security rule'),
      h('a', { href: '#/rules', class: 'button' }, 'Back to the list')),
    banner,
    readOnly ? h('p', { class: 'notice' }, 'This rule is read only: it can be previewed but not changed.') : null,
    rule.type === 'default' ? h('p', { class: 'muted' }, 'A default rule becomes custom when you save a change.') : null,
    template,
    h('div', { class: 'grid2' }, field('Name', name), field('Description', desc)),
    h('div', { class: 'inline' }, h('span', { class: 'check' }, enabled, h('label', { for: enabled.id }, 'Enabled')), field('Context', ctx)),
    tabs, panel,
    h('div', { class: 'status' }, validity, diagList),
    actions,
    h('div', { class: 'buttons sticky' },
      button('Validate', validate),
      button('Preview', () => preview(results, ruleBody())),
      button('Impact', () => impact(results, id, ruleBody())),
      readOnly ? null : button('Save', save, { class: 'primary' }),
      id && !readOnly ? button('Delete', remove, { class: 'danger' }) : null),
    results);
  setView(view);
  name.focus();
}

// ---- Preview and Impact ----

const resName = (it) => it.resourceName || it.resourceId;
const userName = (it) => it.userName || it.userId;

export async function preview(results, rule, cursor = '') {
  put(results, h('p', { class: 'muted' }, 'Computing the preview…'));
  let res;
  try {
    res = await post(`rules/preview?limit=50${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, { rule });
  } catch (e) {
    put(results, h('h2', {}, 'Preview'), errorBox(e));
    return;
  }
  const c = res.counts;
  const perAction = {};
  for (const it of res.items) perAction[it.action] = (perAction[it.action] || 0) + (it.new ? 1 : 0);
  put(results, 
    h('h2', { id: 'preview-title', tabindex: '-1' }, 'Preview: what this rule would grant'),
    h('p', {}, `${c.granted} grants to ${c.users} user(s) on ${c.resources} resource(s): `,
      h('strong', {}, `${c.new} new`), `, ${c.alreadyGranted} already granted otherwise${c.gated ? `, ${c.gated} refused by a gate` : ''}.`),
    Object.keys(perAction).length ? h('p', { class: 'muted' }, 'New on this page by action: ',
      Object.entries(perAction).map(([a, n]) => `${a} ${n}`).join(', ')) : null,
    h('table', { class: 'preview' },
      h('thead', {}, h('tr', {}, ['User', 'Resource', 'Action', 'Where', 'Effect'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, res.items.map((it) => h('tr', { class: it.new ? 'gain' : '' },
        h('td', {}, userName(it)),
        h('td', {}, `${resName(it)} `, h('span', { class: 'muted' }, `(${it.resourceType})`)),
        h('td', {}, it.action), h('td', {}, it.environment),
        h('td', {}, it.new ? 'gains' : 'already has'))))),
    res.next ? button('Next page', () => preview(results, rule, res.next)) : null);
  results.querySelector('h2').focus();
}

export const impact = (results, id, rule) =>
  impactOf(results, [id ? { op: 'update', id, rule } : { op: 'add', rule }], 'Impact of saving this change');

// impactOf shows what a set of pending changes would do (nothing is applied).
export async function impactOf(results, changes, title) {
  put(results, h('p', { class: 'muted' }, 'Computing the impact…'));
  let res;
  try {
    res = await post('rules/impact?limit=2000', { changes });
  } catch (e) {
    put(results, h('h2', {}, 'Impact'), errorBox(e));
    return;
  }
  const PAGE = 50;
  const row = (it) => h('tr', {},
    h('td', {}, userName(it)),
    h('td', {}, `${resName(it)} `, h('span', { class: 'muted' }, `(${it.resourceType})`)),
    h('td', {}, it.action), h('td', {}, it.environment),
    h('td', {}, (it.rules || []).map((r) => r.name).join(', ')));
  // list shows one page of PAGE items at a time, with Previous and Next.
  const list = (title, items, cls) => {
    const body = h('tbody', {});
    const nav = h('p', { class: 'pager' });
    const show = (from) => {
      put(body, items.length ? items.slice(from, from + PAGE).map(row) : h('tr', {}, h('td', { colspan: 5, class: 'muted' }, 'None.')));
      if (items.length <= PAGE) return put(nav);
      put(nav,
        button('Previous', () => show(from - PAGE), { disabled: from === 0, 'aria-label': `Previous page of ${title.toLowerCase()}` }),
        ` ${from + 1}–${Math.min(from + PAGE, items.length)} of ${items.length} `,
        button('Next', () => show(from + PAGE), { disabled: from + PAGE >= items.length, 'aria-label': `Next page of ${title.toLowerCase()}` }));
    };
    show(0);
    return [
      h('h3', {}, `${title} (${items.length})`),
      h('table', { class: cls },
        h('thead', {}, h('tr', {}, ['User', 'Resource', 'Action', 'Where', 'Responsible rules'].map((t) => h('th', { scope: 'col' }, t)))),
        body),
      nav];
  };
  const s = res.summary || {};
  const byAction = {};
  for (const [k, items] of [['gained', res.gained], ['lost', res.lost]]) {
    for (const it of items) {
      byAction[it.action] ||= { gained: 0, lost: 0 };
      byAction[it.action][k]++;
    }
  }
  put(results, 
    h('h2', { tabindex: '-1' }, title),
    h('p', {}, `Gained: ${s.gained ?? res.gained.length}, lost: ${s.lost ?? res.lost.length}${s.truncated ? ' (lists truncated)' : ''}.`),
    h('p', { class: 'muted' }, 'By action: ', Object.entries(byAction).map(([a, n]) => `${a} +${n.gained} −${n.lost}`).join(', ') || 'no change'),
    ...list('Access gained', res.gained, 'gain'), ...list('Access lost', res.lost, 'loss'));
  results.querySelector('h2').focus();
}
