// API keys: the caller's keys; a new key's secret is shown once.
import { h, button, field, table, toast, errorBox, confirmDialog, fmtTime, put, add } from './dom.js';
import { api, get } from './api.js';

export async function render(main) {
  const desc = h('input', { placeholder: 'what the key is for' });
  const expiry = h('input', { placeholder: 'e.g. 720h or 2027-01-31T00:00:00Z; empty: the tenant maximum' });
  const secret = h('div', { id: 'secret', 'aria-live': 'polite' });
  const list = h('div');
  async function load() {
    try {
      const { items } = await get('api-keys?limit=200');
      put(list, table([['Description', (k) => k.description], ['Status', (k) => k.status],
        ['Created', (k) => fmtTime(k.createdAt)], ['Expires', (k) => fmtTime(k.expiresAt || k.expiry)],
        ['', (k) => (k.status === 'active' ? button('Revoke', async () => {
          if (!await confirmDialog(`Revoke the key “${k.description}”? Services using it stop working; this cannot be undone.`, 'Revoke')) return;
          try { await api('POST', `api-keys/${k.id}/revoke`); load(); } catch (e) { toast(e.message, 'bad'); }
        }, { 'aria-label': `Revoke ${k.description}` }) : '')]], items));
    } catch (e) { put(list, errorBox(e)); }
  }
  async function create() {
    try {
      const k = (await api('POST', 'api-keys', { description: desc.value, expiry: expiry.value.trim() })).data;
      const out = h('input', { readonly: true, value: k.secret, id: 'secret-value', class: 'secret' });
      put(secret, h('div', { class: 'notice' },
        h('strong', {}, 'Copy the secret now: it is shown once and cannot be read again.'),
        field('Secret of the new key', out),
        button('Copy', async () => { await navigator.clipboard?.writeText(k.secret).catch(() => {}); out.select(); toast('Copied.'); })));
      desc.value = '';
      load();
    } catch (e) { put(secret, errorBox(e)); }
  }
  add(main, h('h1', {}, 'API keys'),
    h('p', { class: 'muted' }, 'Keys let external services call the decision endpoints as you. Only users with the Developer role create them.'),
    h('div', { class: 'grid2' }, field('Description', desc), field('Expiry', expiry)),
    h('div', { class: 'buttons' }, button('Create key', create, { class: 'primary' })), secret, list);
  await load();
}
