/**
 * /access/acl, as PBS (src/api2/access/acl.rs):
 * - `GET` lists entries `{path, ugid, ugid_type, propagate, roleid}` below
 *   `path` (or at it only, with `exact`), with the file's `digest` beside
 *   `data`. Sys.Audit on /access/acl sees everything; anyone else only the
 *   entries of their own API tokens (a token caller sees none). PBS's
 *   `ugid_type` is `user` for users and tokens alike (`group` is for groups,
 *   which Bulwark does not have).
 * - `PUT` adds (or with `delete` removes) one entry: `path`, `role`,
 *   `auth-id`, `propagate` (default true), `digest`. Allowed with
 *   Permissions.Modify on /access/acl or on `path` itself (so an admin of
 *   /datastore/x delegates below it, as in PVE), and, as PBS, to any user
 *   for its own tokens: a token's rights are capped by its user's anyway.
 * Paths follow PBS's `check_acl_path` (known subtrees and depths).
 */
import type { AuthContext } from '../../auth/authenticate.ts';
import { parseAuthid, type ParsedAuthid } from '../../auth/acl.ts';
import { isRoleId } from '../../auth/privileges.ts';
import { findToken } from '../../auth/tokens.ts';
import type { ConfigPaths } from '../../config/paths.ts';
import { addAclEntry, loadAcl, removeAclEntries, type AclEntry } from '../../config/user-config.ts';
import { MAX_NAMESPACE_DEPTH } from '../../datastore/names.ts';
import { bulwarkError } from '../../errors.ts';
import { apiRoute, WithMeta } from '../http-api.ts';
import { requestParams, type Params } from '../params.ts';
import type { TemplatedApp } from '../uws.ts';
import { authenticated, authenticatedWrite, type ApiContext } from '../api-context.ts';

/** The access routes write the user, shadow, token and ACL files themselves. */
export type AccessPaths = Pick<ConfigPaths, 'userConfig' | 'shadow' | 'tokenShadow' | 'aclConfig'>;
export interface AccessAdminContext extends ApiContext {
  readonly paths: AccessPaths;
}

export const ACL_ADMIN_PATH = '/access/acl';

const SAFE_ID = '[A-Za-z0-9_][A-Za-z0-9._-]*';
const ACL_PATH_RE = new RegExp(`^(?:/|(?:/${SAFE_ID})+)$`);
const DIGEST_RE = /^[0-9a-f]{64}$/;

const invalid = (name: string, why: string) => bulwarkError('BULWARK_INVALID_ARGUMENT', name, why);
const missing = (name: string): never => { throw invalid(name, 'parameter is missing'); };

/** PBS's ACL_PATH_SCHEMA: `/` or `/a/b…` of safe ids, at most 128 characters. */
export function aclPathParam(p: Params, name = 'path'): string | undefined {
  const v = p.string(name);
  if (v === undefined) return undefined;
  if (v.length > 128 || !ACL_PATH_RE.test(v)) throw invalid(name, `${JSON.stringify(v)} is not an ACL path (/ or /name/…)`);
  return v;
}

/** Max components under each top-level subtree, after PBS's `check_acl_path`. */
function aclPathKnown(comps: readonly string[]): boolean {
  const [top, second, third] = comps;
  const n = comps.length;
  switch (top) {
    case undefined: return true;
    case 'access':
      return n === 1 || (n === 2 && ['acl', 'users', 'domains'].includes(second!)) || (second === 'openid' && n <= 3);
    case 'datastore': return n <= 2 + MAX_NAMESPACE_DEPTH;
    case 'remote': return n <= 3;
    case 'system':
      if (n === 1) return true;
      if (['certificates', 'disks', 'log', 'notifications', 'status', 'tasks', 'time'].includes(second!)) return n === 2;
      if (second === 'services') return n <= 3;
      if (second === 'network') return n === 2 || (third === 'dns' && n === 3) || (third === 'interfaces' && n <= 4);
      return false;
    case 'tape': return n === 1 || (['device', 'pool', 'job'].includes(second!) && n <= 3);
    default: return false;
  }
}

/** A syntactically valid path that also names a place ACLs can apply to; 400 naming `name` otherwise. */
export function checkAclPath(path: string, name = 'path'): void {
  if (!aclPathKnown(path.split('/').filter(Boolean))) throw invalid(name, `${JSON.stringify(path)} is not a known ACL path`);
}

export function digestParam(p: Params): string | undefined {
  const v = p.string('digest');
  if (v === undefined || v === '') return undefined;
  if (!DIGEST_RE.test(v)) throw invalid('digest', 'expected 64 lower-case hex digits');
  return v;
}

export function authidParam(p: Params, name = 'auth-id'): ParsedAuthid | undefined {
  const v = p.string(name);
  if (v === undefined || v === '') return undefined;
  try {
    return parseAuthid(v);
  } catch {
    throw invalid(name, `${JSON.stringify(v)} is not user@realm or user@realm!token`);
  }
}

/** `path` itself or below it. */
const under = (entryPath: string, path: string): boolean =>
  path === '/' || entryPath === path || entryPath.startsWith(`${path}/`);

export const aclListItem = (e: AclEntry) => ({ path: e.path, ugid: e.ugid, ugid_type: 'user', propagate: e.propagate, roleid: e.roleid });

/** PBS's rule for callers without Permissions.Modify on /access/acl: a user may manage its own tokens' entries. */
function ownTokenEntry(who: AuthContext, target: ParsedAuthid): boolean {
  return who.tokenName === undefined && target.tokenName !== undefined && target.userid === who.userid;
}

export function aclRoutes(app: TemplatedApp, ctx: AccessAdminContext): void {
  apiRoute(app, ctx.log, 'get', '/access/acl', (req) => {
    const who = authenticated(ctx, req);
    const p = requestParams(req);
    const path = aclPathParam(p);
    const exact = p.bool('exact') ?? false;
    const auditor = ctx.auth.privileges(who.authid, ACL_ADMIN_PATH).has('Sys.Audit');
    const { data, digest } = loadAcl(ctx.paths.aclConfig);
    const visible = (e: AclEntry): boolean => {
      if (auditor) return true;
      if (who.tokenName !== undefined) return false; // tokens can't have tokens
      const { userid, tokenName } = parseAuthid(e.ugid);
      return tokenName !== undefined && userid === who.userid;
    };
    const list = data
      .filter((e) => path === undefined ? !exact || e.path === '/' : exact ? e.path === path : under(e.path, path))
      .filter(visible)
      .sort((a, b) => a.path.localeCompare(b.path) || a.ugid.localeCompare(b.ugid) || a.roleid.localeCompare(b.roleid))
      .map(aclListItem);
    return new WithMeta(list, { digest });
  });

  apiRoute(app, ctx.log, 'put', '/access/acl', (req) => {
    const who = authenticatedWrite(ctx, req);
    const p = requestParams(req);
    const path = aclPathParam(p) ?? missing('path');
    const role = p.required('role');
    if (!isRoleId(role)) throw invalid('role', `${JSON.stringify(role)} is not a role`);
    if (p.string('group') !== undefined) throw invalid('group', 'groups are not supported');
    const target = authidParam(p) ?? missing('auth-id');
    const propagate = p.bool('propagate') ?? true;
    const remove = p.bool('delete') ?? false;
    const digest = digestParam(p);

    const mayModify = (aclPath: string) => ctx.auth.privileges(who.authid, aclPath).has('Permissions.Modify');
    if (!mayModify(ACL_ADMIN_PATH) && !mayModify(path) && !ownTokenEntry(who, target)) {
      ctx.auth.check(who.authid, path, 'Permissions.Modify'); // throws, naming the privilege and path
    }

    if (remove) {
      // As PBS: deleting is allowed for unknown auth ids and paths, so stale entries can go.
      removeAclEntries(ctx.paths.aclConfig, (e) => e.path === path && e.ugid === target.authid && e.roleid === role, digest);
      return null;
    }
    checkAclPath(path);
    const users = ctx.auth.users();
    const known = target.tokenName === undefined ? Object.hasOwn(users, target.userid) : findToken(users, target.authid) !== undefined;
    if (!known) throw invalid('auth-id', `no such ${target.tokenName === undefined ? 'user' : 'API token'} ${target.authid}`);
    addAclEntry(ctx.paths.aclConfig, { path, ugid: target.authid, roleid: role, propagate }, digest);
    return null;
  });
}
