/**
 * /access/users and their API tokens, as PBS (src/api2/access/user.rs):
 * - `GET users` (`include_tokens`), `POST users`, `GET|PUT|DELETE users/{userid}`;
 * - `GET users/{userid}/token`, `GET|POST|PUT|DELETE users/{userid}/token/{token-name}`;
 *   POST answers `{tokenid, value}`: the secret is shown this once only.
 * Reads carry user.json's `digest` beside `data`; writes accept `digest` and
 * refuse with 409 if the file changed since.
 *
 * Privileges, PBS's: Sys.Audit on /access/users reads everyone,
 * Permissions.Modify on /access/users changes everyone; without them a user
 * (never one of its tokens: PBS's `UserParam` matches the exact auth id)
 * reads itself, manages its own tokens, changes its own password and
 * personal fields and may delete itself. Unlike PBS, `enable` and `expire`
 * always need Permissions.Modify: a user must not re-enable or extend itself.
 * Changing a password with PUT needs `confirmation-password`, the caller's
 * own current password (PBS's `user_update_auth`), so a stolen ticket
 * cannot take the account over; wrong guesses count for the login limiter.
 * Deleting a user takes its tokens, password and ACL entries with it;
 * deleting a token takes its ACL entries (a later token of the same name
 * must not inherit them).
 */
import type { AuthContext } from '../../auth/authenticate.ts';
import { parseAuthid } from '../../auth/acl.ts';
import { PBS_REALM } from '../../auth/auth-service.ts';
import { hashPassword, verifyPassword } from '../../auth/password.ts';
import type { Privilege } from '../../auth/privileges.ts';
import {
  createToken, deleteToken, deleteUserWithTokens, findToken, loadUsersWithTokens, updateToken,
  type TokenEntry, type UserWithTokens,
} from '../../auth/tokens.ts';
import { createUser, deletePasswordHash, loadShadow, removeAclEntries, savePasswordHash, updateUser, type UserEntry } from '../../config/user-config.ts';
import { bulwarkError } from '../../errors.ts';
import { apiRoute, WithMeta } from '../http-api.ts';
import { requestParams, type Params } from '../params.ts';
import type { TemplatedApp } from '../uws.ts';
import { authenticated, authenticatedWrite } from '../api-context.ts';
import { digestParam, type AccessAdminContext } from './acl.ts';

export const USERS_PATH = '/access/users';

const SAFE_ID_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;
const CONTROL_RE = /[\x00-\x1f\x7f]/;
/** PBS's schemas: comment ≤ 128, names and email 2..64, password 5..64, all single-line. */
const TEXT_LIMITS = { comment: [0, 128], firstname: [2, 64], lastname: [2, 64], email: [2, 64], password: [5, 64] } as const;
type TextField = keyof typeof TEXT_LIMITS;
const DELETABLE = ['comment', 'firstname', 'lastname', 'email'] as const;
type Deletable = (typeof DELETABLE)[number];
type Mutable<T> = { -readonly [K in keyof T]: T[K] };

const invalid = (name: string, why: string) => bulwarkError('BULWARK_INVALID_ARGUMENT', name, why);

function useridOf(raw: string): string {
  let parsed;
  try {
    parsed = parseAuthid(raw);
  } catch {
    throw invalid('userid', `${JSON.stringify(raw)} is not name@realm`);
  }
  if (parsed.tokenName !== undefined) throw invalid('userid', `${JSON.stringify(raw)} is a token id, not a user`);
  return parsed.userid;
}

function tokenNameOf(raw: string): string {
  if (raw.length > 64 || !SAFE_ID_RE.test(raw)) throw invalid('token-name', `${JSON.stringify(raw)} is not a valid token name`);
  return raw;
}

/** A single-line text parameter; '' (after trimming a comment) comes back as null, meaning "clear it". */
function textParam(p: Params, name: TextField): string | null | undefined {
  const raw = p.string(name);
  if (raw === undefined) return undefined;
  const v = name === 'comment' ? raw.trim() : raw;
  if (v === '') return null;
  const [min, max] = TEXT_LIMITS[name];
  if (CONTROL_RE.test(v)) throw invalid(name, 'must be a single line without control characters');
  if (v.length < min || v.length > max) throw invalid(name, `length must be ${min} to ${max} characters`);
  return v;
}

function deleteParam(p: Params): Deletable[] {
  const names = (p.string('delete') ?? '').split(/[\s,;]+/).filter(Boolean);
  for (const n of names) if (!(DELETABLE as readonly string[]).includes(n)) throw invalid('delete', `${JSON.stringify(n)} is not one of ${DELETABLE.join(', ')}`);
  return names as Deletable[];
}

/** Only the documented fields go out, whatever else the file holds. */
function userItem(u: UserWithTokens, withTokens = false): Record<string, unknown> {
  const out: Record<string, unknown> = { userid: u.userid };
  for (const k of ['comment', 'enable', 'expire', 'firstname', 'lastname', 'email'] as const) if (u[k] !== undefined) out[k] = u[k];
  if (withTokens) out.tokens = Object.values(u.tokens ?? {}).map(tokenItem);
  return out;
}

function tokenItem(t: TokenEntry): Record<string, unknown> {
  return { tokenid: t.tokenid, ...(t.comment !== undefined && { comment: t.comment }), enable: t.enable ?? true, expire: t.expire ?? 0 };
}

/** PBS's `Permission::UserParam`: the user itself, not one of its tokens. */
const isSelf = (who: AuthContext, userid: string): boolean => who.tokenName === undefined && who.authid === userid;

function selfOr(ctx: AccessAdminContext, who: AuthContext, userid: string, need: Privilege): void {
  if (!isSelf(who, userid)) ctx.auth.check(who.authid, USERS_PATH, need);
}

/** The new password, checked; hash it only once every other check passed (~0.1 s of scrypt). */
function passwordParam(p: Params, userid: string): string | undefined {
  const password = p.string('password');
  if (password === undefined) return undefined;
  const [min, max] = TEXT_LIMITS.password;
  if (password.length < min || password.length > max || CONTROL_RE.test(password)) throw invalid('password', `must be ${min} to ${max} characters without control characters`);
  if (parseAuthid(userid).realm !== PBS_REALM) throw invalid('password', `only users of realm ${PBS_REALM} have passwords here`);
  return password;
}

/** 401 unless `confirmation-password` is the current password of the caller (a token's: its user's). */
async function confirmCaller(ctx: AccessAdminContext, who: AuthContext, p: Params, remoteAddr: string): Promise<void> {
  ctx.auth.limiter.check(who.userid, remoteAddr);
  const confirm = p.string('confirmation-password');
  const hash = loadShadow(ctx.paths.shadow).data[who.userid];
  const ok = confirm !== undefined && hash !== undefined && (await verifyPassword(confirm, hash));
  if (!ok) {
    ctx.auth.limiter.recordFailure(who.userid, remoteAddr);
    throw bulwarkError('BULWARK_UNAUTHORIZED', `changing a password needs confirmation-password, the current password of ${who.userid}`);
  }
}

function tokenChanges(p: Params): { comment?: string | null; enable?: boolean; expire?: number } {
  const comment = textParam(p, 'comment');
  const enable = p.bool('enable');
  const expire = p.int('expire', { min: 0 });
  return { ...(comment !== undefined && { comment }), ...(enable !== undefined && { enable }), ...(expire !== undefined && { expire }) };
}

export function userRoutes(app: TemplatedApp, ctx: AccessAdminContext): void {
  const { paths } = ctx;
  const load = () => loadUsersWithTokens(paths.userConfig);

  apiRoute(app, ctx.log, 'get', '/access/users', (req) => {
    const who = authenticated(ctx, req);
    const withTokens = requestParams(req).bool('include_tokens') ?? false;
    const all = ctx.auth.privileges(who.authid, USERS_PATH).has('Sys.Audit');
    const { data, digest } = load();
    const list = Object.values(data)
      .filter((u) => all || u.userid === who.userid)
      .sort((a, b) => a.userid.localeCompare(b.userid))
      .map((u) => userItem(u, withTokens));
    return new WithMeta(list, { digest });
  });

  apiRoute(app, ctx.log, 'post', '/access/users', (req) => {
    const who = authenticatedWrite(ctx, req);
    const p = requestParams(req);
    const userid = useridOf(p.required('userid'));
    ctx.auth.check(who.authid, USERS_PATH, 'Permissions.Modify');
    if (parseAuthid(userid).realm !== PBS_REALM) throw invalid('userid', `realm of ${userid} does not exist (only ${PBS_REALM})`);
    const user: Mutable<UserEntry> = { userid, enable: p.bool('enable') ?? true, expire: p.int('expire', { min: 0 }) ?? 0 };
    for (const k of DELETABLE) {
      const v = textParam(p, k);
      if (v) user[k] = v;
    }
    const password = passwordParam(p, userid);
    if (Object.hasOwn(load().data, userid)) throw bulwarkError('BULWARK_ALREADY_EXISTS', `user ${userid}`); // before the scrypt cost
    const hash = password === undefined ? undefined : hashPassword(password);
    // User first: a hash written for an existing user would replace its password.
    createUser(paths.userConfig, user);
    if (hash !== undefined) savePasswordHash(paths.shadow, userid, hash);
    return null;
  });

  apiRoute(app, ctx.log, 'get', '/access/users/:userid', (req) => {
    const who = authenticated(ctx, req);
    const userid = useridOf(req.params.userid!);
    selfOr(ctx, who, userid, 'Sys.Audit');
    const { data, digest } = load();
    if (!Object.hasOwn(data, userid)) throw bulwarkError('BULWARK_NOT_FOUND', `user ${userid}`);
    return new WithMeta(userItem(data[userid]!), { digest });
  });

  apiRoute(app, ctx.log, 'put', '/access/users/:userid', async (req) => {
    const who = authenticatedWrite(ctx, req);
    const userid = useridOf(req.params.userid!);
    const p = requestParams(req);
    const enable = p.bool('enable');
    const expire = p.int('expire', { min: 0 });
    const removed = deleteParam(p);
    const texts = DELETABLE.map((k) => [k, textParam(p, k)] as const);
    const digest = digestParam(p);
    const password = passwordParam(p, userid);
    if (!isSelf(who, userid) || enable !== undefined || expire !== undefined) ctx.auth.check(who.authid, USERS_PATH, 'Permissions.Modify');
    if (password !== undefined) await confirmCaller(ctx, who, p, req.remoteAddress);
    const hash = password === undefined ? undefined : hashPassword(password);
    // Also run when only the password changes: the digest check and the 404 happen here.
    updateUser(paths.userConfig, userid, (cur) => {
      const next: Mutable<UserEntry> = { ...cur };
      for (const k of removed) delete next[k];
      for (const [k, v] of texts) {
        if (v === null) delete next[k];
        else if (v !== undefined) next[k] = v;
      }
      if (enable !== undefined) next.enable = enable;
      if (expire !== undefined) next.expire = expire;
      return next;
    }, digest);
    if (hash !== undefined) savePasswordHash(paths.shadow, userid, hash);
    return null;
  });

  apiRoute(app, ctx.log, 'del', '/access/users/:userid', (req) => {
    const who = authenticatedWrite(ctx, req);
    const userid = useridOf(req.params.userid!);
    const digest = digestParam(requestParams(req));
    selfOr(ctx, who, userid, 'Permissions.Modify');
    // The user entry goes first (every login and token stops there), then what hung on it.
    deleteUserWithTokens(paths, userid, digest);
    deletePasswordHash(paths.shadow, userid);
    removeAclEntries(paths.aclConfig, (e) => e.ugid === userid || e.ugid.startsWith(`${userid}!`));
    return null;
  });

  // ── tokens ──────────────────────────────────────────────────────────────

  apiRoute(app, ctx.log, 'get', '/access/users/:userid/token', (req) => {
    const who = authenticated(ctx, req);
    const userid = useridOf(req.params.userid!);
    selfOr(ctx, who, userid, 'Sys.Audit');
    const { data, digest } = load();
    if (!Object.hasOwn(data, userid)) throw bulwarkError('BULWARK_NOT_FOUND', `user ${userid}`);
    const list = Object.entries(data[userid]!.tokens ?? {})
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, t]) => ({ 'token-name': name, ...tokenItem(t) }));
    return new WithMeta(list, { digest });
  });

  apiRoute(app, ctx.log, 'get', '/access/users/:userid/token/:tokenname', (req) => {
    const who = authenticated(ctx, req);
    const userid = useridOf(req.params.userid!);
    const tokenid = `${userid}!${tokenNameOf(req.params.tokenname!)}`;
    selfOr(ctx, who, userid, 'Sys.Audit');
    const { data, digest } = load();
    const token = findToken(data, tokenid);
    if (!token) throw bulwarkError('BULWARK_NOT_FOUND', `token ${tokenid}`);
    return new WithMeta(tokenItem(token), { digest });
  });

  apiRoute(app, ctx.log, 'post', '/access/users/:userid/token/:tokenname', (req) => {
    const who = authenticatedWrite(ctx, req);
    const userid = useridOf(req.params.userid!);
    const name = tokenNameOf(req.params.tokenname!);
    const p = requestParams(req);
    const { comment, enable, expire } = tokenChanges(p);
    const digest = digestParam(p);
    selfOr(ctx, who, userid, 'Permissions.Modify');
    return createToken(paths, userid, name, {
      ...(comment && { comment }), ...(enable !== undefined && { enable }), ...(expire !== undefined && { expire }), ...(digest && { digest }),
    });
  });

  apiRoute(app, ctx.log, 'put', '/access/users/:userid/token/:tokenname', (req) => {
    const who = authenticatedWrite(ctx, req);
    const userid = useridOf(req.params.userid!);
    const tokenid = `${userid}!${tokenNameOf(req.params.tokenname!)}`;
    const p = requestParams(req);
    const changes = tokenChanges(p);
    const digest = digestParam(p);
    selfOr(ctx, who, userid, 'Permissions.Modify');
    updateToken(paths, tokenid, changes, digest);
    return null;
  });

  apiRoute(app, ctx.log, 'del', '/access/users/:userid/token/:tokenname', (req) => {
    const who = authenticatedWrite(ctx, req);
    const userid = useridOf(req.params.userid!);
    const tokenid = `${userid}!${tokenNameOf(req.params.tokenname!)}`;
    const digest = digestParam(requestParams(req));
    selfOr(ctx, who, userid, 'Permissions.Modify');
    deleteToken(paths, tokenid, digest);
    removeAclEntries(paths.aclConfig, (e) => e.ugid === tokenid);
    return null;
  });
}
