// Users and licenses: the license overview, users with status, roles,
// license and groups; assign or remove a license, change roles, disable;
// groups.
import { h, button, field, select, table, toast, errorBox, confirmDialog, fmtTime, uid, debounce, put, add } from './dom.js';
import { api, all, get } from './api.js';

const ROLES = ['TenantAdmin', 'Developer', 'AuthzClient', 'RootAdmin', 'ContentAdmin', 'SecurityAdmin', 'AuditAdmin', 'HubAdmin'];

function bar(label, used, total) {
  const pct = total ? Math.min(100, Math.round((100 * used) / total)) : 0;
  return h('div', { class: 'bar' }, h('span', {}, `${label}: ${used} of ${total}`),
    h('progress', { max: total || 1, value: used, 'aria-label': `${label} used` }, `${pct}%`));
}

export async function render(main) {
  const overview = h('section', { 'aria-label': 'Licenses' });
  const usersBox = h('section', { 'aria-label': 'Users' });
  const groupsBox = h('section', { 'aria-label': 'Groups' });
  add(main, h('h1', {}, 'Users & licenses'), overview, usersBox, groupsBox);
  await Promise.all([licenses(overview), users(usersBox), groups(groupsBox)]);
}

async function licenses(box) {
  try {
    const o = await get('licenses/overview');
    const cap = o.analyzerCapacity || {};
    put(box, h('h2', {}, 'Licenses'),
      h('div', { class: 'bars' }, bar('Professional', o.professional.consumed, o.professional.total),
        bar('Analyzer', o.analyzer.consumed, o.analyzer.total),
        cap.totalMinutes ? bar('Analyzer capacity (minutes)', cap.consumedMinutes, cap.totalMinutes) : null),
      h('p', { class: 'muted' }, `License key ${o.keyId}, expires ${fmtTime(o.expires)}. Excluded users: ${o.excluded}.`));
  } catch (e) { put(box, h('h2', {}, 'Licenses'), errorBox(e)); }
}

async function users(box) {
  const q = h('input', { type: 'search', placeholder: 'name or email' });
  const list = h('div');
  const editor = h('div', { id: 'user-editor' });
  const [groupList, assignments] = await Promise.all([all('groups'), all('licenses/assignments').catch(() => [])]);
  const groupName = Object.fromEntries(groupList.map((g) => [g.id, g.name]));
  const licenseOf = Object.fromEntries(assignments.map((a) => [a.userId, a.type]));
  async function load() {
    let page;
    try { page = await get(`users?limit=100${q.value ? `&q=${encodeURIComponent(q.value)}` : ''}`); } catch (e) { put(list, errorBox(e)); return; }
    put(list, table([
      ['Name', (u) => u.name], ['Email', (u) => u.email], ['Status', (u) => u.status],
      ['Roles', (u) => (u.roles || []).join(', ')], ['License', (u) => licenseOf[u.id] || 'none'],
      ['Groups', (u) => (u.groupIds || []).map((g) => groupName[g] || g).join(', ')],
      ['', (u) => button('Manage', () => manage(editor, u, licenseOf, load), { 'aria-label': `Manage ${u.name}` })],
    ], page.items, { class: 'users' }));
  }
  q.addEventListener('input', debounce(load, 250));
  add(box, h('h2', {}, 'Users'), field('Search users', q), list, editor);
  await load();
}

function manage(box, u, licenseOf, reload) {
  const roles = h('fieldset', { class: 'actions' }, h('legend', {}, 'Roles'), ROLES.map((r) => {
    const cb = h('input', { type: 'checkbox', id: uid('r'), value: r, checked: (u.roles || []).includes(r) });
    return h('span', { class: 'check' }, cb, h('label', { for: cb.id }, r));
  }));
  const status = select([['active', 'Active'], ['disabled', 'Disabled']], u.status);
  const lic = select([['', 'No license'], ['professional', 'Professional'], ['analyzer', 'Analyzer'], ['analyzer_capacity', 'Analyzer capacity']], licenseOf[u.id] || '');
  async function apply() {
    try {
      await api('PATCH', `users/${u.id}`, { status: status.value, roles: [...roles.querySelectorAll('input:checked')].map((x) => x.value) });
      const before = licenseOf[u.id] || '';
      if (lic.value !== before) {
        if (before) await api('DELETE', `licenses/assignments/${u.id}`);
        if (lic.value) await api('POST', 'licenses/assignments', { userId: u.id, type: lic.value });
        licenseOf[u.id] = lic.value;
      }
      toast(`Updated ${u.name}.`);
      put(box, );
      reload();
    } catch (e) { box.querySelector('.err').replaceChildren(errorBox(e)); }
  }
  put(box, h('h3', {}, `Manage ${u.name}`), roles,
    h('div', { class: 'inline' }, field('Status', status), field('License', lic)),
    h('div', { class: 'err' }),
    h('div', { class: 'buttons' }, button('Apply', apply, { class: 'primary' }), button('Cancel', () => put(box, ))));
  box.querySelector('input').focus();
}

async function groups(box) {
  const name = h('input', { placeholder: 'group name' });
  const list = h('div');
  async function load() {
    const items = await all('groups');
    put(list, table([['Name', (g) => g.name], ['Source', (g) => g.source], ['Created', (g) => fmtTime(g.createdAt)],
      ['', (g) => button('Delete group', async () => {
        if (!await confirmDialog(`Delete the group “${g.name}”?`, 'Delete')) return;
        try { await api('DELETE', `groups/${g.id}`); load(); } catch (e) { toast(e.message, 'bad'); }
      }, { 'aria-label': `Delete group ${g.name}` })]], items));
  }
  add(box, h('h2', {}, 'Groups'), list, h('div', { class: 'inline' }, field('New group name', name),
    button('Create group', async () => {
      try { await api('POST', 'groups', { name: name.value }); name.value = ''; load(); } catch (e) { toast(e.message, 'bad'); }
    })));
  await load();
}
