// The console's entry point: sign-in, the access check and the router.
import { h, button, errorBox, put } from './dom.js';
import { api, get, setToken, onSignOut } from './api.js';
import { signIn, completeSignIn } from './auth.js';

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const who = document.getElementById('who');

// Each screen module exports render(main, params) and is loaded on demand.
const routes = [
  [/^#\/rules\/?$/, './rules.js', 'list'],
  [/^#\/rules\/new$/, './editor.js', 'editNew'],
  [/^#\/rules\/([^/]+)$/, './editor.js', 'edit'],
  [/^#\/audit$/, './audit.js', 'render'],
  [/^#\/check$/, './check.js', 'render'],
  [/^#\/users$/, './users.js', 'render'],
  [/^#\/spaces$/, './spaces.js', 'render'],
  [/^#\/events$/, './events.js', 'render'],
  [/^#\/api-keys$/, './apikeys.js', 'render'],
];

let cfg;
export let me;

function screen(title, ...children) {
  put(main, h('h1', {}, title), ...children.filter(Boolean));
  document.title = `${title} — rulekeeper console`;
}

function showSignIn(message) {
  nav.hidden = true;
  put(who, );
  screen('Sign in',
    message ? h('p', { class: 'notice', role: 'alert' }, message) : null,
    h('p', {}, 'The management console is for tenant administrators: security rules, audit, users, licenses, spaces, events and API keys.'),
    h('p', { class: 'muted' }, `You sign in with ${cfg?.dev ? 'the development issuer of this server' : cfg?.issuer || 'your identity provider'}.`),
    button('Sign in', async () => {
      try { await signIn(cfg); } catch (e) { showSignIn(e.message); }
    }, { class: 'primary' }));
  main.querySelector('button').focus();
  performance.mark('console-interactive');
}

function signOut(message) {
  setToken('');
  me = undefined;
  showSignIn(message);
}

function showNoAccess() {
  nav.hidden = true;
  screen('No access to the management console',
    h('p', { class: 'notice', role: 'alert', id: 'no-access' },
      `You are signed in as ${me.name}, but your account has no access to the management console.`),
    h('p', {}, 'The console is for users with the TenantAdmin role, or with a security rule that grants them the management console context. Ask a tenant administrator for access, or sign in as another user.'),
    button('Sign out', () => signOut(''), { class: 'primary' }));
}

async function route() {
  if (!me) return;
  const hash = location.hash || '#/rules';
  for (const a of nav.querySelectorAll('a')) {
    if (hash.startsWith(a.getAttribute('href'))) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  for (const [re, mod, fn] of routes) {
    const m = hash.match(re);
    if (!m) continue;
    // Each route renders into its own element: a slower earlier route
    // keeps rendering into a detached one instead of mixing into this.
    const view = h('div', { class: 'screen' });
    put(main, view);
    try {
      const screenModule = await import(mod);
      await screenModule[fn](view, ...m.slice(1));
    } catch (e) {
      if (e.status === 401) return;
      put(view, h('h1', {}, 'Something went wrong'), errorBox(e));
    }
    return;
  }
  location.hash = '#/rules';
}

async function start() {
  onSignOut(signOut);
  try {
    cfg = await (await fetch('/console/config.json')).json();
    const { token } = await completeSignIn(cfg);
    if (!token) return showSignIn('');
    setToken(token);
    me = await get('users/me');
  } catch (e) {
    return showSignIn(e.message);
  }
  put(who, h('span', {}, `Signed in as ${me.name}`), button('Sign out', () => signOut('You signed out.')));
  try {
    await api('GET', 'rules?limit=1');
  } catch (e) {
    if (e.status === 403) return showNoAccess();
    if (e.status === 401) return;
    return screen('Something went wrong', errorBox(e));
  }
  nav.hidden = false;
  window.addEventListener('hashchange', route);
  await route();
  document.body.dataset.ready = 'true';
  performance.mark('console-interactive');
}

start();
