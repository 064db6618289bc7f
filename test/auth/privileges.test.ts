import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isPrivilege, isRoleId, PRIVILEGES, rolePrivileges, ROLES, sortedPrivileges } from '../../auth/privileges.ts';

// The table from PBS-NOTES.md (pbs-api-types/src/acl.rs); names are API.
const EXPECTED: Record<string, string[]> = {
  Admin: [...PRIVILEGES],
  NoAccess: [],
  Audit: ['Sys.Audit', 'Datastore.Audit'],
  DatastoreAdmin: ['Datastore.Audit', 'Datastore.Modify', 'Datastore.Read', 'Datastore.Verify', 'Datastore.Backup', 'Datastore.Prune'],
  DatastoreReader: ['Datastore.Audit', 'Datastore.Verify', 'Datastore.Read'],
  DatastoreBackup: ['Datastore.Backup'],
  DatastorePowerUser: ['Datastore.Prune', 'Datastore.Backup'],
  DatastoreAudit: ['Datastore.Audit'],
  RemoteAudit: ['Remote.Audit'],
  RemoteAdmin: ['Remote.Audit', 'Remote.Modify', 'Remote.Read'],
  RemoteSyncOperator: ['Remote.Audit', 'Remote.Read'],
  TapeAudit: ['Tape.Audit'],
  TapeAdmin: ['Tape.Audit', 'Tape.Modify', 'Tape.Read', 'Tape.Write'],
  TapeOperator: ['Tape.Audit', 'Tape.Read', 'Tape.Write'],
  TapeReader: ['Tape.Audit', 'Tape.Read'],
};

test('the privilege names are exactly PBS’s twenty', () => {
  assert.deepEqual([...PRIVILEGES].sort(), [
    'Datastore.Allocate', 'Datastore.Audit', 'Datastore.Backup', 'Datastore.Modify', 'Datastore.Prune', 'Datastore.Read',
    'Datastore.Verify', 'Permissions.Modify', 'Realm.Allocate', 'Remote.Audit', 'Remote.Modify', 'Remote.Read',
    'Sys.Audit', 'Sys.Console', 'Sys.Modify', 'Sys.PowerManagement', 'Tape.Audit', 'Tape.Modify', 'Tape.Read', 'Tape.Write',
  ]);
  assert.ok(isPrivilege('Datastore.Backup'));
  assert.ok(!isPrivilege('Datastore.backup'));
});

test('every role holds exactly the privileges of the PBS table', () => {
  assert.deepEqual(Object.keys(ROLES).sort(), Object.keys(EXPECTED).sort());
  for (const [role, privs] of Object.entries(EXPECTED)) {
    assert.deepEqual(sortedPrivileges(rolePrivileges(role)), sortedPrivileges(privs as never), role);
    assert.equal(new Set(rolePrivileges(role)).size, rolePrivileges(role).length, `${role} has no duplicates`);
  }
});

test('unknown roles grant nothing and are not role ids', () => {
  assert.deepEqual(rolePrivileges('SuperUser'), []);
  assert.deepEqual(rolePrivileges('__proto__'), []);
  assert.ok(!isRoleId('toString'));
  assert.ok(isRoleId('DatastoreBackup'));
});
