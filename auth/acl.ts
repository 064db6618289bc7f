/**
 * ACL evaluation as PBS does it (pbs-config/src/acl.rs `AclTree::roles`,
 * src/config/cached_user_info.rs `lookup_privs`):
 *
 * - Entries hang on a tree of path components (`/datastore/store1/ns1`).
 * - Walking from `/` to the requested node, each node where the auth id has
 *   entries REPLACES the roles collected so far (a deeper entry is more
 *   specific, so it wins even when it grants less). Entries on an ancestor
 *   count only when `propagate` is set; on the node itself they always do.
 * - `NoAccess` at a node yields just that role: nothing from above survives,
 *   until a deeper node of the same auth id overrides it again.
 * - A token (`user@realm!name`) gets its own ACL result intersected with its
 *   owning user's: a token can never do more than its user.
 * Groups are not modelled (Bulwark has none yet); unknown roles grant nothing.
 */
import { bulwarkError } from '../errors.ts';
import type { AclEntry } from '../config/user-config.ts';
import { intersect, rolePrivileges, ROLE_NO_ACCESS, type PrivilegeSet, type Privilege } from './privileges.ts';

// ── auth ids ──────────────────────────────────────────────────────────────
// PBS's user name allows anything but whitespace, ':', '/' and controls; we
// also exclude '!', '@' and '%' so an auth id is unambiguous and needs no
// escaping inside a ticket. Realms and token names are PBS "safe ids".
const USER_NAME = String.raw`[^\s:/!@%\x00-\x1f\x7f]+`;
const SAFE_ID = '[A-Za-z0-9_][A-Za-z0-9._-]*';
const AUTHID_RE = new RegExp(`^((${USER_NAME})@(${SAFE_ID}))(?:!(${SAFE_ID}))?$`);
const MAX_PART = 64;

export interface ParsedAuthid {
  readonly authid: string;
  /** `name@realm`; for a token, its owning user. */
  readonly userid: string;
  readonly realm: string;
  readonly tokenName?: string;
}

/** Splits `user@realm` or `user@realm!token`; BULWARK_INVALID_NAME otherwise. */
export function parseAuthid(authid: string): ParsedAuthid {
  const m = AUTHID_RE.exec(authid);
  if (!m || m[1]!.length > MAX_PART || (m[4] !== undefined && m[4].length > MAX_PART)) {
    throw bulwarkError('BULWARK_INVALID_NAME', 'auth id', JSON.stringify(authid), 'expected user@realm or user@realm!token');
  }
  return { authid, userid: m[1]!, realm: m[3]!, ...(m[4] !== undefined && { tokenName: m[4] }) };
}

export function isTokenId(authid: string): boolean {
  return authid.includes('!');
}

// ── paths ─────────────────────────────────────────────────────────────────

/** `/datastore/s1/ns` → ['datastore', 's1', 'ns']; `/` → []. Refuses relative paths and dot segments. */
export function splitAclPath(path: string): string[] {
  if (!path.startsWith('/')) throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'acl path', JSON.stringify(path));
  const parts = path.split('/').filter((c) => c.length > 0);
  if (parts.some((c) => c === '.' || c === '..')) throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'acl path', JSON.stringify(path));
  return parts;
}

// ── tree ──────────────────────────────────────────────────────────────────

interface AclNode {
  readonly children: Map<string, AclNode>;
  /** ugid → (roleid → propagate) */
  readonly entries: Map<string, Map<string, boolean>>;
}

const newNode = (): AclNode => ({ children: new Map(), entries: new Map() });

/** roleid → propagate, as PBS's `extract_user_roles`. */
type RoleMap = ReadonlyMap<string, boolean>;

export class AclTree {
  private readonly root: AclNode = newNode();

  constructor(entries: readonly AclEntry[] = []) {
    for (const e of entries) this.add(e);
  }

  private add(e: AclEntry): void {
    let node = this.root;
    for (const comp of splitAclPath(e.path)) {
      let child = node.children.get(comp);
      if (!child) node.children.set(comp, (child = newNode()));
      node = child;
    }
    let roles = node.entries.get(e.ugid);
    if (!roles) node.entries.set(e.ugid, (roles = new Map()));
    roles.set(e.roleid, e.propagate);
  }

  /** Roles of exactly this auth id at `path` (no token intersection). */
  roles(authid: string, path: string): RoleMap {
    const comps = splitAclPath(path);
    let node: AclNode | undefined = this.root;
    let result = extractRoles(node, authid, comps.length === 0);
    for (const [i, comp] of comps.entries()) {
      node = node.children.get(comp);
      if (!node) break; // nothing deeper can apply
      const here = extractRoles(node, authid, i === comps.length - 1);
      if (here.size > 0) result = here; // more specific entries replace inherited ones
    }
    return result;
  }

  /** Own privileges of `authid` at `path`, without the token/user intersection. */
  ownPrivileges(authid: string, path: string): PrivilegeSet {
    const out = new Set<Privilege>();
    for (const roleid of this.roles(authid, path).keys()) for (const p of rolePrivileges(roleid)) out.add(p);
    return out;
  }

  /** Effective privileges: for a token, intersected with its owning user's. */
  privileges(authid: string, path: string): PrivilegeSet {
    const { userid, tokenName } = parseAuthid(authid);
    const own = this.ownPrivileges(authid, path);
    return tokenName === undefined ? own : intersect(own, this.ownPrivileges(userid, path));
  }
}

/** `exact`: the node is the requested path itself, so non-propagating entries count. */
function extractRoles(node: AclNode, authid: string, exact: boolean): RoleMap {
  const entries = node.entries.get(authid);
  const out = new Map<string, boolean>();
  if (!entries) return out;
  for (const [roleid, propagate] of entries) {
    if (!propagate && !exact) continue;
    if (roleid === ROLE_NO_ACCESS) return new Map([[roleid, propagate]]);
    out.set(roleid, propagate);
  }
  return out;
}

/** Does `have` satisfy `need`? `partial`: any one of them is enough (PBS `check_privs(.., partial)`). */
export function satisfies(have: PrivilegeSet, need: readonly Privilege[], partial = false): boolean {
  return partial ? need.some((p) => have.has(p)) : need.every((p) => have.has(p));
}

/** PBS's check_backup_owner: the owner itself, or a user acting on a group one of its own tokens owns. */
export function ownsGroup(owner: string | undefined, authid: string): boolean {
  if (owner === undefined) return false;
  if (owner === authid) return true;
  const bang = owner.indexOf('!');
  return bang > 0 && !authid.includes('!') && owner.slice(0, bang) === authid;
}
