// Events: newest first, filtered by type or source, paged.
import { h, button, field, select, table, errorBox, fmtTime, debounce, put, add } from './dom.js';
import { get } from './api.js';

export async function render(main) {
  const type = h('input', { placeholder: 'e.g. rule.updated' });
  const source = h('input', { placeholder: 'e.g. com.rulekeeper/rules' });
  const sort = select([['-time', 'Newest first'], ['time', 'Oldest first']], '-time');
  const list = h('div');
  let cursors = [''];
  async function load(cursor = '') {
    const q = new URLSearchParams({ limit: 50, sort: sort.value });
    if (type.value) q.set('type', type.value.trim());
    if (source.value) q.set('source', source.value.trim());
    if (cursor) q.set('cursor', cursor);
    let page;
    try { page = await get(`events?${q}`); } catch (e) { put(list, errorBox(e)); return; }
    put(list, table([['Time', (e) => fmtTime(e.time)], ['Type', (e) => e.type], ['Source', (e) => e.source],
      ['User', (e) => e.userName || e.userId], ['Data', (e) => h('code', { class: 'data' }, JSON.stringify(e.data))]], page.items, { class: 'events' }),
    h('div', { class: 'pager' }, page.next ? button('Next page', () => { cursors.push(page.next); load(page.next); }) : null));
  }
  const reset = debounce(() => { cursors = ['']; load(); }, 250);
  for (const el of [type, source, sort]) el.addEventListener(el === sort ? 'change' : 'input', reset);
  add(main, h('h1', {}, 'Events'), h('div', { class: 'inline' }, field('Type', type), field('Source', source), field('Order', sort)), list);
  await load();
}
