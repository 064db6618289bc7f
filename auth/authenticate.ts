/**
 * From request headers to an AuthContext, as PBS's `extract_auth_data` /
 * `check_auth` do:
 *
 * - cookie `PBSAuthCookie=<url-encoded ticket>` (checked first, like PBS), or
 * - `Authorization: PBSAPIToken=<user@realm!name>:<secret>` (PBS also
 *   accepts a space instead of `=`; the secret may be percent-encoded).
 *
 * The user (and for a token, the token too) must exist, be enabled and not
 * expired. Every failure is BULWARK_UNAUTHORIZED. Requests that change state
 * and come with a ticket must also carry a valid `CSRFPreventionToken`
 * header (`requireCsrf`); tokens are not sent by browsers on their own, so
 * they need none.
 */
import { bulwarkError } from '../errors.ts';
import type { ShadowMap } from '../config/user-config.ts';
import { parseAuthid } from './acl.ts';
import type { AuthKeys } from './tickets.ts';
import { checkTokenSecret, findToken, type UsersWithTokens } from './tokens.ts';

export interface AuthContext {
  readonly authid: string;
  /** The user; for a token, its owner. */
  readonly userid: string;
  readonly tokenName?: string;
  readonly via: 'token' | 'ticket';
}

export type RequestHeaders = Readonly<Record<string, string | readonly string[] | undefined>>;

/** What authentication reads; getters so a caller can serve cached, reloaded-on-change data. */
export interface AuthState {
  users(): UsersWithTokens;
  tokenShadow(): ShadowMap;
  readonly keys: AuthKeys;
}

export const TICKET_COOKIE = 'PBSAuthCookie';
export const CSRF_HEADER = 'csrfpreventiontoken';

const unauthorized = (why: string) => bulwarkError('BULWARK_UNAUTHORIZED', why);

/** Enabled and not expired (`expire` in epoch seconds, 0/absent = never), as PBS's `is_active`. */
export function isActive(entry: { readonly enable?: boolean; readonly expire?: number } | undefined, nowMs: number): boolean {
  if (!entry || entry.enable === false) return false;
  const expire = entry.expire ?? 0;
  return expire === 0 || expire > Math.floor(nowMs / 1000);
}

/** Header lookup by lower-case name (uWS and node already lower-case them; others may not). */
export function headerValue(headers: RequestHeaders, name: string): string | undefined {
  let v = headers[name];
  if (v === undefined) {
    for (const [k, value] of Object.entries(headers)) if (k.toLowerCase() === name) { v = value; break; }
  }
  return Array.isArray(v) ? v[0] : (v as string | undefined);
}

export function cookieValue(cookieHeader: string | undefined, name: string): string | undefined {
  if (!cookieHeader) return undefined;
  for (const part of cookieHeader.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** `PBSAPIToken=<tokenid>:<secret>` or `PBSAPIToken <tokenid>:<secret>`; undefined if not a token header. */
export function parseTokenAuthorization(value: string | undefined): { tokenid: string; secret: string } | undefined {
  if (!value || !/^PBSAPIToken[= ]/.test(value)) return undefined;
  const rest = value.slice('PBSAPIToken='.length);
  const colon = rest.indexOf(':'); // auth ids cannot contain ':'
  if (colon <= 0) throw unauthorized('malformed API token header');
  let secret: string;
  try {
    secret = decodeURIComponent(rest.slice(colon + 1));
  } catch {
    throw unauthorized('malformed API token header');
  }
  return { tokenid: rest.slice(0, colon), secret };
}

export function authenticate(state: AuthState, headers: RequestHeaders, nowMs: number = Date.now()): AuthContext {
  const cookie = cookieValue(headerValue(headers, 'cookie'), TICKET_COOKIE);
  if (cookie !== undefined) return authenticateTicket(state, cookie, nowMs);
  const token = parseTokenAuthorization(headerValue(headers, 'authorization'));
  if (token) return authenticateToken(state, token.tokenid, token.secret, nowMs);
  throw unauthorized('no credentials (ticket cookie or API token) given');
}

function authenticateTicket(state: AuthState, encoded: string, nowMs: number): AuthContext {
  let ticket: string;
  try {
    ticket = decodeURIComponent(encoded);
  } catch {
    throw unauthorized('malformed ticket');
  }
  const authid = state.keys.verifyTicket(ticket, nowMs);
  if (!isActive(state.users()[authid], nowMs)) throw unauthorized('user account disabled or expired');
  return { authid, userid: authid, via: 'ticket' };
}

function authenticateToken(state: AuthState, tokenid: string, secret: string, nowMs: number): AuthContext {
  let parsed;
  try {
    parsed = parseAuthid(tokenid);
  } catch {
    throw unauthorized('malformed API token');
  }
  const { userid, tokenName } = parsed;
  if (tokenName === undefined) throw unauthorized('malformed API token');
  const users = state.users();
  const entry = findToken(users, tokenid);
  // Always run the comparison, so an unknown token costs what a wrong secret does.
  const secretOk = checkTokenSecret(state.tokenShadow()[tokenid], secret);
  if (!entry || !secretOk) throw unauthorized('invalid API token');
  if (!isActive(users[userid], nowMs) || !isActive(entry, nowMs)) throw unauthorized('user account or token disabled or expired');
  return { authid: tokenid, userid, tokenName, via: 'token' };
}

/** For state-changing requests: a ticket-authenticated caller must send a valid CSRF token. */
export function requireCsrf(ctx: AuthContext, headers: RequestHeaders, keys: AuthKeys, nowMs: number = Date.now()): void {
  if (ctx.via === 'token') return;
  const token = headerValue(headers, CSRF_HEADER);
  if (!token) throw unauthorized('missing CSRF prevention token');
  keys.verifyCsrf(ctx.authid, token, nowMs);
}
