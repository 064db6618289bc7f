/**
 * GET /access/permissions, as PBS's `list_permissions` (src/api2/access/mod.rs):
 * `{ <acl path>: { <privilege>: <propagates?> } }` for the caller, or for
 * `auth-id` (needs Sys.Audit on /access, unless it is one of the caller's
 * own tokens), at `path` or else at every path of the ACL tree plus `/`,
 * `/access`, `/datastore`, `/remote` and `/system`. Paths where the auth id
 * holds nothing are left out, so the answer reveals no ACL paths beyond
 * the ones that concern it. A token's privileges, and whether they
 * propagate, are each intersected with its user's (PBS's
 * `lookup_privs_details`).
 */
import { AclTree, parseAuthid, splitAclPath, type ParsedAuthid } from '../../auth/acl.ts';
import { intersect, PRIVILEGES, rolePrivileges, type Privilege, type PrivilegeSet } from '../../auth/privileges.ts';
import { loadAcl } from '../../config/user-config.ts';
import { apiRoute } from '../http-api.ts';
import { requestParams } from '../params.ts';
import type { TemplatedApp } from '../uws.ts';
import { authenticated } from '../api-context.ts';
import { aclPathParam, authidParam, type AccessAdminContext } from './acl.ts';

/** Listed even without an ACL entry on them, as PBS. */
const DEFAULT_PATHS = ['/', '/access', '/datastore', '/remote', '/system'];

interface PrivilegeDetails {
  readonly privs: PrivilegeSet;
  /** The subset granted by propagating entries. */
  readonly propagated: PrivilegeSet;
}

function ownDetails(tree: AclTree, authid: string, path: string): PrivilegeDetails {
  const privs = new Set<Privilege>();
  const propagated = new Set<Privilege>();
  for (const [roleid, propagate] of tree.roles(authid, path)) {
    for (const p of rolePrivileges(roleid)) {
      privs.add(p);
      if (propagate) propagated.add(p);
    }
  }
  return { privs, propagated };
}

export function privilegeDetails(tree: AclTree, who: ParsedAuthid, path: string): PrivilegeDetails {
  const own = ownDetails(tree, who.authid, path);
  if (who.tokenName === undefined) return own;
  const user = ownDetails(tree, who.userid, path);
  return { privs: intersect(own.privs, user.privs), propagated: intersect(own.propagated, user.propagated) };
}

/** Every node of the ACL tree (each prefix of each entry's path), as `/a/b`. */
function treePaths(entryPaths: Iterable<string>): Set<string> {
  const out = new Set<string>();
  for (const path of entryPaths) {
    const comps = splitAclPath(path);
    for (let i = 1; i <= comps.length; i++) out.add(`/${comps.slice(0, i).join('/')}`);
  }
  return out;
}

export function permissionRoutes(app: TemplatedApp, ctx: AccessAdminContext): void {
  apiRoute(app, ctx.log, 'get', '/access/permissions', (req) => {
    const who = authenticated(ctx, req);
    const p = requestParams(req);
    const asked = authidParam(p);
    const path = aclPathParam(p);
    let target = parseAuthid(who.authid);
    if (asked && asked.authid !== who.authid) {
      const ownToken = who.tokenName === undefined && asked.tokenName !== undefined && asked.userid === who.userid;
      if (!ownToken) ctx.auth.check(who.authid, '/access', 'Sys.Audit');
      target = asked;
    }
    const entries = loadAcl(ctx.paths.aclConfig).data;
    const tree = new AclTree(entries);
    const paths = path !== undefined ? [path] : [...new Set([...DEFAULT_PATHS, ...treePaths(entries.map((e) => e.path))])].sort();
    const out: Record<string, Record<string, boolean>> = {};
    for (const at of paths) {
      const { privs, propagated } = privilegeDetails(tree, target, at);
      if (privs.size === 0) continue; // don't leak ACL paths where it has nothing
      out[at] = Object.fromEntries(PRIVILEGES.filter((pr) => privs.has(pr)).map((pr) => [pr, propagated.has(pr)]));
    }
    return out;
  });
}
