/**
 * PBS's privilege names and built-in roles (pbs-api-types/src/acl.rs).
 * Names are API: ACL files and clients spell them exactly like this, so
 * never rename one. PBS keeps privileges as a bitmap; a set of names does
 * the same job here and reads better in errors and tests.
 */

export const PRIVILEGES = [
  'Sys.Audit',
  'Sys.Modify',
  'Sys.PowerManagement',
  'Sys.Console',
  'Datastore.Audit',
  'Datastore.Allocate',
  'Datastore.Modify',
  'Datastore.Read',
  'Datastore.Verify',
  'Datastore.Backup',
  'Datastore.Prune',
  'Permissions.Modify',
  'Remote.Audit',
  'Remote.Modify',
  'Remote.Read',
  'Tape.Audit',
  'Tape.Modify',
  'Tape.Write',
  'Tape.Read',
  'Realm.Allocate',
] as const;

export type Privilege = (typeof PRIVILEGES)[number];

export type PrivilegeSet = ReadonlySet<Privilege>;

const role = (...privs: Privilege[]): readonly Privilege[] => Object.freeze(privs);

export const ROLES = {
  Admin: role(...PRIVILEGES),
  /** Holds nothing; an ACL entry with it masks whatever would be inherited. */
  NoAccess: role(),
  Audit: role('Sys.Audit', 'Datastore.Audit'),
  DatastoreAdmin: role(
    'Datastore.Audit', 'Datastore.Modify', 'Datastore.Read', 'Datastore.Verify', 'Datastore.Backup', 'Datastore.Prune',
  ),
  DatastoreReader: role('Datastore.Audit', 'Datastore.Verify', 'Datastore.Read'),
  DatastoreBackup: role('Datastore.Backup'),
  DatastorePowerUser: role('Datastore.Prune', 'Datastore.Backup'),
  DatastoreAudit: role('Datastore.Audit'),
  RemoteAudit: role('Remote.Audit'),
  RemoteAdmin: role('Remote.Audit', 'Remote.Modify', 'Remote.Read'),
  RemoteSyncOperator: role('Remote.Audit', 'Remote.Read'),
  TapeAudit: role('Tape.Audit'),
  TapeAdmin: role('Tape.Audit', 'Tape.Modify', 'Tape.Read', 'Tape.Write'),
  TapeOperator: role('Tape.Audit', 'Tape.Read', 'Tape.Write'),
  TapeReader: role('Tape.Audit', 'Tape.Read'),
} as const satisfies Record<string, readonly Privilege[]>;

export type RoleId = keyof typeof ROLES;

export const ROLE_NO_ACCESS: RoleId = 'NoAccess';

export function isRoleId(name: string): name is RoleId {
  return Object.prototype.hasOwnProperty.call(ROLES, name);
}

export function isPrivilege(name: string): name is Privilege {
  return (PRIVILEGES as readonly string[]).includes(name);
}

/** Privileges of a role; an unknown role grants nothing (PBS ignores it too). */
export function rolePrivileges(roleid: string): readonly Privilege[] {
  return isRoleId(roleid) ? ROLES[roleid] : [];
}

export function intersect(a: PrivilegeSet, b: PrivilegeSet): PrivilegeSet {
  return new Set([...a].filter((p) => b.has(p)));
}

/** Names in PRIVILEGES order, so messages and tests are stable. */
export function sortedPrivileges(set: Iterable<Privilege>): Privilege[] {
  const s = new Set(set);
  return PRIVILEGES.filter((p) => s.has(p));
}
