import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { AclTree, parseAuthid, satisfies, splitAclPath } from '../../auth/acl.ts';
import { PRIVILEGES, sortedPrivileges, type Privilege } from '../../auth/privileges.ts';
import type { AclEntry } from '../../config/user-config.ts';

const e = (path: string, ugid: string, roleid: string, propagate = true): AclEntry => ({ path, ugid, roleid, propagate });

const ENTRIES: AclEntry[] = [
  e('/', 'admin@pbs', 'Admin'),
  e('/datastore/s1', 'admin@pbs', 'NoAccess', false), // exact node only
  e('/datastore', 'alice@pbs', 'DatastoreAudit'),
  e('/datastore/s1', 'alice@pbs', 'DatastoreBackup'), // replaces the Audit from above
  e('/datastore/s1/secret', 'alice@pbs', 'NoAccess'),
  e('/datastore/s1/secret/open', 'alice@pbs', 'DatastoreReader', false),
  e('/datastore/s2', 'bob@pbs', 'DatastoreAdmin', false),
  e('/remote', 'carol@pbs', 'RemoteAudit'),
  e('/remote', 'carol@pbs', 'RemoteSyncOperator'), // several roles on one node: union
  e('/', 'dave@pbs', 'Audit', false),
  e('/datastore/s1', 'erin@pbs', 'DatastoreAdmin'),
  e('/datastore/s1', 'erin@pbs', 'NoAccess'), // NoAccess beats the other role on the same node
  e('/tape', 'frank@pbs', 'TapeOperator'),
  e('/tape/drive/lto1', 'frank@pbs', 'UnknownRole'), // grants nothing but still overrides
  e('/datastore/s1', 'alice@pbs!ci', 'DatastoreAdmin'),
  e('/datastore/s2', 'alice@pbs!ci', 'DatastoreAdmin'),
  e('/', 'admin@pbs!ro', 'Audit'),
  e('/system', 'dave@pbs!t', 'Admin'),
];

const ALL = [...PRIVILEGES];
const READER: Privilege[] = ['Datastore.Audit', 'Datastore.Verify', 'Datastore.Read'];
const DS_ADMIN: Privilege[] = ['Datastore.Audit', 'Datastore.Modify', 'Datastore.Read', 'Datastore.Verify', 'Datastore.Backup', 'Datastore.Prune'];

const CASES: [string, string, Privilege[], string][] = [
  ['admin@pbs', '/', ALL, 'root entry'],
  ['admin@pbs', '/datastore/s2/ns1', ALL, 'propagated from /'],
  ['admin@pbs', '/datastore/s1', [], 'NoAccess on the exact node'],
  ['admin@pbs', '/datastore/s1/ns1', ALL, 'non-propagating NoAccess does not reach below'],
  ['alice@pbs', '/', [], 'nothing above her entries'],
  ['alice@pbs', '/datastore', ['Datastore.Audit'], 'own entry'],
  ['alice@pbs', '/datastore/s2', ['Datastore.Audit'], 'inherited, no node for s2'],
  ['alice@pbs', '/datastore/s1', ['Datastore.Backup'], 'deeper entry replaces inherited Audit'],
  ['alice@pbs', '/datastore/s1/', ['Datastore.Backup'], 'trailing slash is the same path'],
  ['alice@pbs', '/datastore/s1/ns1/ns2', ['Datastore.Backup'], 'namespaces inherit from the store'],
  ['alice@pbs', '/datastore/s1/secret', [], 'NoAccess removes everything'],
  ['alice@pbs', '/datastore/s1/secret/x', [], 'propagated NoAccess'],
  ['alice@pbs', '/datastore/s1/secret/open', READER, 'deeper entry overrides NoAccess'],
  ['alice@pbs', '/datastore/s1/secret/open/sub', [], 'non-propagating entry: back to NoAccess from above'],
  ['bob@pbs', '/datastore/s2', DS_ADMIN, 'exact non-propagating entry'],
  ['bob@pbs', '/datastore/s2/ns', [], 'non-propagating entry does not reach children'],
  ['carol@pbs', '/remote/r1', ['Remote.Audit', 'Remote.Read'], 'union of roles on one node'],
  ['dave@pbs', '/', ['Sys.Audit', 'Datastore.Audit'], 'non-propagating root entry'],
  ['dave@pbs', '/datastore', [], 'not below /'],
  ['erin@pbs', '/datastore/s1', [], 'NoAccess wins over another role on the same node'],
  ['frank@pbs', '/tape/drive', ['Tape.Audit', 'Tape.Read', 'Tape.Write'], 'inherited'],
  ['frank@pbs', '/tape/drive/lto1', [], 'an unknown role still replaces inherited roles'],
  ['nobody@pbs', '/datastore/s1', [], 'no entries at all'],
  ['alice@pbs!ci', '/datastore/s1', ['Datastore.Backup'], 'token capped by its user'],
  ['alice@pbs!ci', '/datastore/s2', ['Datastore.Audit'], 'token ∩ user’s inherited Audit'],
  ['alice@pbs!ci', '/datastore', [], 'token has no entry here'],
  ['admin@pbs!ro', '/datastore/s2', ['Sys.Audit', 'Datastore.Audit'], 'read-only token of an admin'],
  ['admin@pbs!ro', '/datastore/s1', [], 'user has nothing on s1, so neither has the token'],
  ['admin@pbs!none', '/', [], 'a token without entries has nothing, whatever its user has'],
  ['dave@pbs!t', '/system/network', [], 'user dave has nothing on /system'],
];

describe('ACL evaluation (PBS semantics)', () => {
  const tree = new AclTree(ENTRIES);
  for (const [authid, path, want, why] of CASES) {
    test(`${authid} on ${path}: ${why}`, () => {
      assert.deepEqual(sortedPrivileges(tree.privileges(authid, path)), sortedPrivileges(want));
    });
  }

  test('a token’s own privileges are visible before the intersection', () => {
    assert.deepEqual(sortedPrivileges(tree.ownPrivileges('alice@pbs!ci', '/datastore/s1')), sortedPrivileges(DS_ADMIN));
  });

  test('the user’s entries do not apply to the token, nor the token’s to the user', () => {
    assert.equal(tree.privileges('alice@pbs!other', '/datastore/s1').size, 0);
    assert.deepEqual(sortedPrivileges(tree.privileges('alice@pbs', '/datastore/s2')), ['Datastore.Audit']);
  });

  test('an empty tree grants nothing', () => {
    assert.equal(new AclTree().privileges('admin@pbs', '/').size, 0);
  });
});

test('satisfies: all by default, any with partial', () => {
  const have = new Set<Privilege>(['Datastore.Backup']);
  assert.ok(satisfies(have, ['Datastore.Backup']));
  assert.ok(!satisfies(have, ['Datastore.Backup', 'Datastore.Modify']));
  assert.ok(satisfies(have, ['Datastore.Backup', 'Datastore.Modify'], true));
  assert.ok(!satisfies(have, ['Datastore.Modify', 'Datastore.Read'], true));
});

test('auth ids and paths are validated', () => {
  assert.deepEqual(parseAuthid('alice@pbs'), { authid: 'alice@pbs', userid: 'alice@pbs', realm: 'pbs' });
  assert.deepEqual(parseAuthid('john.doe@pam!ci-1'), { authid: 'john.doe@pam!ci-1', userid: 'john.doe@pam', realm: 'pam', tokenName: 'ci-1' });
  for (const bad of ['alice', '@pbs', 'alice@', 'a:b@pbs', 'a/b@pbs', 'a b@pbs', 'alice@pbs!', 'alice@pbs!x!y', 'a@b@pbs', `${'a'.repeat(70)}@pbs`, '!tfa!x']) {
    assert.throws(() => parseAuthid(bad), { code: 'BULWARK_INVALID_NAME' }, bad);
  }
  assert.deepEqual(splitAclPath('/'), []);
  assert.deepEqual(splitAclPath('/datastore//s1/'), ['datastore', 's1']);
  for (const bad of ['datastore', '/datastore/../system', '/./x', '']) {
    assert.throws(() => splitAclPath(bad), { code: 'BULWARK_INVALID_ARGUMENT' }, bad);
  }
});
