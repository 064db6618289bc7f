// The page's side of /api2/json: login (ticket cookie + CSRF token, or an
// API token kept in memory only), and calls carrying the user's own rights.

const COOKIE = 'PBSAuthCookie';
const STORE_KEY = 'bulwark-session';

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

const session = { username: null, csrf: null, token: null };

function setCookie(ticket) {
  document.cookie = `${COOKIE}=${encodeURIComponent(ticket)}; path=/; SameSite=Strict; Secure`;
}

function clearCookie() {
  document.cookie = `${COOKIE}=; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT; SameSite=Strict; Secure`;
}

export const currentUser = () => session.username;

/** Calls `path` under /api2/json; resolves to the whole envelope (`data`, `total`…), throws ApiError. */
export async function call(method, path, params = {}) {
  const headers = {};
  if (session.token) headers.Authorization = `PBSAPIToken=${session.token}`;
  if (method !== 'GET' && session.csrf) headers.CSRFPreventionToken = session.csrf;
  const query = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') query.set(k, String(v));
  let url = `/api2/json${path}`;
  let body;
  if (method === 'GET' || method === 'DELETE') {
    if ([...query].length) url += `?${query}`;
  } else {
    body = query.toString();
    headers['Content-Type'] = 'application/x-www-form-urlencoded';
  }
  const res = await fetch(url, { method, headers, body, credentials: 'same-origin' });
  let json;
  try {
    json = await res.json();
  } catch {
    throw new ApiError(res.status, 'BULWARK_PROTOCOL', `${method} ${path}: HTTP ${res.status}`);
  }
  if (!res.ok) throw new ApiError(res.status, json.code ?? 'HTTP', json.message ?? `HTTP ${res.status}`);
  return json;
}

export const get = async (path, params) => (await call('GET', path, params)).data;
export const post = async (path, params) => (await call('POST', path, params)).data;

/**
 * `user@realm` + password → ticket; `user@realm!name` + secret → API token.
 * A user with a second factor is asked for it through `askTfa()` (resolves to `totp:123456` or `recovery:…`).
 */
export async function login(username, password, askTfa) {
  logout();
  if (username.includes('!')) {
    session.token = `${username}:${password}`;
    try {
      await get('/admin/datastore'); // any authenticated call tells whether the token is good
    } catch (err) {
      session.token = null;
      throw err;
    }
    session.username = username;
    return;
  }
  let reply = await post('/access/ticket', { username, password });
  if (reply.NeedTFA) {
    const response = await askTfa();
    reply = await post('/access/ticket', { username, password: response, 'tfa-challenge': reply.ticket });
  }
  setCookie(reply.ticket);
  session.username = reply.username;
  session.csrf = reply.CSRFPreventionToken;
  sessionStorage.setItem(STORE_KEY, JSON.stringify({ username: session.username, csrf: session.csrf }));
}

/** After a reload: the ticket is still in its cookie; the CSRF token and name were kept for this tab. */
export async function resume() {
  const saved = sessionStorage.getItem(STORE_KEY);
  if (!saved || !document.cookie.includes(`${COOKIE}=`)) return false;
  try {
    Object.assign(session, JSON.parse(saved));
    await get('/admin/datastore');
    return true;
  } catch {
    logout();
    return false;
  }
}

export function logout() {
  clearCookie();
  sessionStorage.removeItem(STORE_KEY);
  session.username = null;
  session.csrf = null;
  session.token = null;
}

/** WebSocket subprotocols: browsers cannot set headers on a WebSocket, so a token travels as one. */
export function wsProtocols() {
  const protocols = ['bulwark-inspect'];
  if (session.token) {
    const bytes = new TextEncoder().encode(session.token);
    const b64 = btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
    protocols.push(`bulwark-token.${b64}`);
  }
  return protocols;
}

/** Whether the user holds `priv` on `path`; undefined when the server cannot say (no permissions API). */
export async function hasPrivilege(path, priv) {
  try {
    const perms = await get('/access/permissions', { path });
    return Boolean(perms?.[path] && priv in perms[path]);
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return undefined;
    throw err;
  }
}
