// Check access: one decision with its explanation.
import { h, button, field, select, errorBox, put, add } from './dom.js';
import { api, all, get } from './api.js';
import { vocabulary, allActions } from './vocab.js';

const LISTS = { app: 'apps', space: 'spaces', user: 'users', group: 'groups', schedule: 'schedules', apikey: 'api-keys' };
const GATES = {
  no_license: 'the user has no license, and this action needs one',
  license_excluded: 'the user is excluded from license assignment',
  user_disabled: 'the user is disabled',
  analyzer_license: 'an analyzer license does not allow this action (it needs a professional license)',
  capacity_exhausted: 'the analyzer capacity is used up for this period',
  section_access: 'section access of the app refuses it',
  anonymous: 'anonymous users may not do this',
};

export async function render(main) {
  const v = await vocabulary();
  const users = await all('users');
  const userList = h('datalist', { id: 'check-users' }, users.map((u) => h('option', { value: u.name })));
  const subject = h('input', { list: 'check-users', autocomplete: 'off', placeholder: 'search users…' });
  const action = select(allActions(v), 'read');
  const type = select(v.resourceTypes.map((t) => t.name), 'app');
  const resList = h('datalist', { id: 'check-resources' });
  const resource = h('input', { list: 'check-resources', autocomplete: 'off', placeholder: 'empty: a new or any resource of the type' });
  const env = select([['hub', 'Hub'], ['console', 'Management console']], 'hub');
  const out = h('section', { id: 'decision', 'aria-live': 'polite' });
  let resources = [];
  async function loadResources() {
    resources = [];
    put(resList, );
    const path = LISTS[type.value];
    if (!path) return;
    try { resources = (await get(`${path}?limit=200`)).items; } catch { return; }
    put(resList, ...resources.map((r) => h('option', { value: r.name || r.description || r.id })));
  }
  type.addEventListener('change', loadResources);
  await loadResources();

  async function check() {
    const u = users.find((x) => x.name === subject.value.trim()) || users.find((x) => x.id === subject.value.trim());
    if (!u) { put(out, errorBox({ message: `No user named “${subject.value}”.` })); return; }
    const r = resources.find((x) => (x.name || x.description || x.id) === resource.value.trim());
    const body = { subject: { id: u.id }, action: action.value,
      resource: r ? { type: type.value, id: r.id } : resource.value.trim() ? { type: type.value, id: resource.value.trim() } : { type: type.value },
      context: { environment: env.value } };
    let d;
    try { d = (await api('POST', '/authz/check', body)).data; } catch (e) { put(out, errorBox(e)); return; }
    const what = `${u.name} → ${action.value} → ${r ? (r.name || r.id) : resource.value || `a ${type.value}`} (${env.value})`;
    put(out, 
      h('h2', { class: d.allow ? 'allow' : 'deny', id: 'verdict' }, d.allow ? 'Allowed' : 'Denied'),
      h('p', {}, what),
      d.denies.length ? h('div', {}, h('h3', {}, 'Refused by'), h('ul', { class: 'denies' },
        d.denies.map((x) => h('li', {}, h('strong', {}, `${x.kind === 'gate' ? 'License and status gate' : x.kind}: `), GATES[x.reason] || x.reason,
          h('code', {}, ` (${x.reason})`))))) : null,
      h('h3', {}, d.grants.length ? 'Granted by' : 'Nothing grants it'),
      d.grants.length ? h('ul', { class: 'grants' }, d.grants.map((g) => h('li', {}, `${g.kind}: ${g.name || g.id}`))) : null,
      d.denies.length && d.grants.length ? h('p', { class: 'notice' }, 'A gate refuses regardless of grants.') : null,
      h('p', { class: 'muted' }, `Rules revision ${d.revision}.`));
  }
  add(main, h('h1', {}, 'Check access'), userList, resList,
    h('div', { class: 'grid2' }, field('Subject', subject), field('Action', action),
      field('Resource type', type), field('Resource', resource), field('Environment', env)),
    h('div', { class: 'buttons' }, button('Check', check, { class: 'primary' })), out);
  subject.focus();
}
