// The REST client: the bearer token lives in memory only; a 401 signs out.
let token = '';
let onUnauthorized = () => {};

export function setToken(t) { token = t; }
export function hasToken() { return !!token; }
export function onSignOut(f) { onUnauthorized = f; }

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message || `HTTP ${status}`);
    this.status = status;
    this.code = body?.code;
    this.details = body?.details || {};
  }
}

// api(method, path, body, headers) answers {status, data, headers}.
export async function api(method, path, body, headers = {}) {
  const h = { Accept: 'application/json', ...headers };
  if (token) h.Authorization = `Bearer ${token}`;
  let payload;
  if (body !== undefined) {
    if (typeof body === 'string') payload = body;
    else { payload = JSON.stringify(body); h['Content-Type'] = 'application/json'; }
  }
  const res = await fetch(path.startsWith('/') ? path : `/api/v1/${path}`, { method, headers: h, body: payload });
  const text = await res.text();
  let data = text;
  if ((res.headers.get('Content-Type') || '').includes('json') && text) data = JSON.parse(text);
  if (res.status === 401) {
    onUnauthorized('Your session ended. Sign in again.');
    throw new ApiError(401, data);
  }
  if (!res.ok) throw new ApiError(res.status, data);
  return { status: res.status, data, headers: res.headers };
}

export const get = async (p) => (await api('GET', p)).data;
export const post = async (p, b) => (await api('POST', p, b)).data;

// all reads every page of a cursor-paged list.
export async function all(path, max = 2000) {
  const out = [];
  let cursor = '';
  do {
    const sep = path.includes('?') ? '&' : '?';
    const page = await get(`${path}${sep}limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    out.push(...page.items);
    cursor = page.next;
  } while (cursor && out.length < max);
  return out;
}
