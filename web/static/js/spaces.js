// Spaces and their members.
import { h, button, table, errorBox, fmtTime, put, add } from './dom.js';
import { all, get } from './api.js';

export async function render(main) {
  const members = h('section', { id: 'members', 'aria-live': 'polite' });
  const [spaces, users] = await Promise.all([all('spaces'), all('users')]);
  const userName = Object.fromEntries(users.map((u) => [u.id, u.name]));
  add(main, h('h1', {}, 'Spaces'),
    table([['Name', (s) => s.name], ['Type', (s) => s.type], ['Owner', (s) => userName[s.ownerId] || s.ownerId || ''],
      ['Members', (s) => String((s.members || []).length)], ['Created', (s) => fmtTime(s.createdAt)],
      ['', (s) => button('Members', () => show(members, s), { 'aria-label': `Members of ${s.name}` })]], spaces),
    members);
}

async function show(box, s) {
  try {
    const { items } = await get(`spaces/${s.id}/members`);
    put(box, h('h2', {}, `Members of ${s.name}`),
      table([['Name', (m) => m.name || m.id], ['Kind', (m) => m.type], ['Roles', (m) => m.roles.join(', ')]], items));
  } catch (e) { put(box, errorBox(e)); }
}
