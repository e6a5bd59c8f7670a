// OIDC sign-in: authorization code with PKCE (S256) against the issuer the
// server names in /console/config.json. Only the PKCE verifier and state
// survive the redirect (sessionStorage); the token is kept in memory.
const KEY = 'rulekeeper.pkce';

const b64url = (buf) => btoa(String.fromCharCode(...new Uint8Array(buf)))
  .replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
const random = (n) => b64url(crypto.getRandomValues(new Uint8Array(n)));

let discovery;
async function discover(cfg) {
  if (!discovery) {
    const res = await fetch(`${cfg.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`);
    if (!res.ok) throw new Error(`the issuer's discovery document answered ${res.status}`);
    discovery = await res.json();
  }
  return discovery;
}

const redirectURI = () => `${location.origin}/console/`;

export async function signIn(cfg) {
  const d = await discover(cfg);
  if (!d.authorization_endpoint) throw new Error('the issuer has no authorization endpoint');
  const verifier = random(48);
  const state = random(16);
  const challenge = b64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
  sessionStorage.setItem(KEY, JSON.stringify({ verifier, state, hash: location.hash }));
  const q = new URLSearchParams({
    response_type: 'code', client_id: cfg.clientId, redirect_uri: redirectURI(), scope: 'openid profile email',
    state, code_challenge: challenge, code_challenge_method: 'S256',
  });
  location.assign(`${d.authorization_endpoint}?${q}`);
}

// completeSignIn exchanges ?code= for a token; '' when this is no callback.
export async function completeSignIn(cfg) {
  const q = new URLSearchParams(location.search);
  if (!q.has('code') && !q.has('error')) return { token: '' };
  const saved = JSON.parse(sessionStorage.getItem(KEY) || '{}');
  sessionStorage.removeItem(KEY);
  history.replaceState(null, '', `/console/${saved.hash || ''}`);
  if (q.has('error')) throw new Error(`the issuer refused the sign-in: ${q.get('error_description') || q.get('error')}`);
  if (!saved.state || saved.state !== q.get('state')) throw new Error('the sign-in answer does not belong to this browser tab; sign in again');
  const d = await discover(cfg);
  const res = await fetch(d.token_endpoint, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code: q.get('code'), redirect_uri: redirectURI(),
      client_id: cfg.clientId, code_verifier: saved.verifier }),
  });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(`the token exchange failed: ${body.error_description || body.message || res.status}`);
  return { token: body.id_token || body.access_token };
}
