import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  formatBackupTime, parseBackupTime, parseNamespace, validateAuthId, validateBackupId, validateBackupType,
  validateNamespaceComponent,
} from '../../datastore/names.ts';
import {
  BackupDir, BackupGroup, BackupNamespace, compareGroups, compareNamespaces, parseGroupRef, parseSnapshotRef, sortSnapshots,
} from '../../datastore/backup-ref.ts';
import {
  groupLockPath, groupPath, jobLockPath, namespacePath, snapshotLockPath, snapshotPath, writersDir,
} from '../../datastore/layout.ts';

const invalidName = (fragment: string) => (e: unknown): boolean => {
  const err = e as { code?: string; message: string };
  assert.equal(err.code, 'BULWARK_INVALID_NAME');
  assert.ok(err.message.includes(fragment), `message ${JSON.stringify(err.message)} lacks ${JSON.stringify(fragment)}`);
  return true;
};

describe('backup id and namespace component', () => {
  for (const validate of [validateBackupId, validateNamespaceComponent]) {
    test(`${validate.name} accepts safe ids`, () => {
      for (const ok of ['web1', 'a', '_x', '0', 'db-01.example_com', 'A.b-c_d', 'x'.repeat(128)]) assert.equal(validate(ok), ok);
    });

    test(`${validate.name} rejects bad names with a reason`, () => {
      assert.throws(() => validate(''), invalidName('empty'));
      assert.throws(() => validate('a/b'), invalidName("contains '/'"));
      assert.throws(() => validate('a\\b'), invalidName("contains '\\'"));
      assert.throws(() => validate('.'), invalidName("is '.'"));
      assert.throws(() => validate('..'), invalidName("is '..'"));
      assert.throws(() => validate('../etc'), invalidName("contains '/'"));
      assert.throws(() => validate('.hidden'), invalidName("starts with '.'"));
      assert.throws(() => validate('-rf'), invalidName("starts with '-'"));
      assert.throws(() => validate('abc\x01'), invalidName('control character at position 3'));
      assert.throws(() => validate('a\0b'), invalidName('control character at position 1'));
      assert.throws(() => validate('a\nb'), invalidName('control character at position 1'));
      assert.throws(() => validate('a\x7f'), invalidName('control character at position 1'));
      assert.throws(() => validate('x'.repeat(129)), invalidName('longer than 128 characters'));
      assert.throws(() => validate('x'.repeat(255)), invalidName('longer than 128 characters'));
      assert.throws(() => validate('a b'), invalidName("character ' ' (U+0020) at position 1"));
      assert.throws(() => validate('a:b'), invalidName("character ':'"));
      // Lookalikes: Cyrillic 'а', fullwidth solidus, one-dot leader, combining mark, emoji.
      assert.throws(() => validate('w\u0430b'), invalidName('U+0430'));
      assert.throws(() => validate('a\uff0fb'), invalidName('U+FF0F'));
      assert.throws(() => validate('\u2024\u2024'), invalidName('U+2024'));
      assert.throws(() => validate('e\u0301'), invalidName('U+0301'));
      assert.throws(() => validate('a\u{1F600}'), invalidName('U+1F600'));
      assert.throws(() => validate(42 as unknown as string), invalidName('not a string'));
    });
  }

  test('backup types', () => {
    for (const t of ['vm', 'ct', 'host']) assert.equal(validateBackupType(t), t);
    for (const bad of ['', 'VM', 'ns', 'host/', 'hosts', '..']) {
      assert.throws(() => validateBackupType(bad), { code: 'BULWARK_INVALID_NAME' });
    }
  });
});

describe('namespaces', () => {
  test('parse and depth', () => {
    assert.deepEqual(parseNamespace(''), []);
    assert.deepEqual(parseNamespace('a/b/c'), ['a', 'b', 'c']);
    assert.deepEqual(parseNamespace('1/2/3/4/5/6/7'), ['1', '2', '3', '4', '5', '6', '7']);
    assert.throws(() => parseNamespace('1/2/3/4/5/6/7/8'), { code: 'BULWARK_NAMESPACE_TOO_DEEP' });
    assert.throws(() => BackupNamespace.parse('1/2/3/4/5/6/7').child('x'), { code: 'BULWARK_NAMESPACE_TOO_DEEP' });
  });

  test('rejects empty components, traversal and over-long paths', () => {
    assert.throws(() => parseNamespace('/a'), invalidName('empty component at level 1'));
    assert.throws(() => parseNamespace('a//b'), invalidName('empty component at level 2'));
    assert.throws(() => parseNamespace('a/'), invalidName('empty component'));
    assert.throws(() => parseNamespace('a/../b'), invalidName("is '..'"));
    assert.throws(() => parseNamespace('a/.'), invalidName("is '.'"));
    assert.throws(() => parseNamespace('a/b\x00'), invalidName('control character'));
    const long = Array.from({ length: 3 }, () => 'x'.repeat(100)).join('/');
    assert.throws(() => parseNamespace(long), invalidName('longer than 256 characters'));
  });

  test('BackupNamespace value', () => {
    const ns = BackupNamespace.parse('a/b');
    assert.equal(ns.toString(), 'a/b');
    assert.equal(ns.depth, 2);
    assert.equal(ns.name, 'b');
    assert.equal(ns.parent?.toString(), 'a');
    assert.equal(BackupNamespace.parse(''), BackupNamespace.root);
    assert.equal(BackupNamespace.root.parent, undefined);
    assert.ok(BackupNamespace.parse('a').contains(ns));
    assert.ok(!ns.contains(BackupNamespace.parse('a')));
    assert.ok(!BackupNamespace.parse('a/c').contains(ns));
    assert.ok(ns.equals(BackupNamespace.root.child('a').child('b')));
    assert.ok(Object.isFrozen(ns) && Object.isFrozen(ns.components));
    assert.throws(() => { (ns.components as string[]).push('x'); }, TypeError);
  });
});

describe('backup time', () => {
  test('round trip', () => {
    assert.equal(parseBackupTime('2019-11-15T09:39:15Z'), 1573810755);
    assert.equal(formatBackupTime(1573810755), '2019-11-15T09:39:15Z');
    assert.equal(parseBackupTime(1573810755), 1573810755);
    assert.equal(formatBackupTime(0), '1970-01-01T00:00:00Z');
    assert.equal(parseBackupTime('2024-02-29T23:59:59Z'), Date.UTC(2024, 1, 29, 23, 59, 59) / 1000);
  });

  test('rejects everything but strict RFC 3339 UTC seconds', () => {
    for (const bad of [
      '', '2019-11-15T09:39:15', '2019-11-15T09:39:15.000Z', '2019-11-15T09:39:15+00:00', '2019-11-15 09:39:15Z',
      '2019-11-15t09:39:15z', '1573810755', '2019-02-29T00:00:00Z', '2019-13-01T00:00:00Z', '2019-11-31T00:00:00Z',
      '2019-11-15T24:00:00Z', '2019-11-15T09:60:00Z', '2019-11-15T09:39:60Z', '../2019-11-15T09:39:15Z', '２019-11-15T09:39:15Z',
    ]) {
      assert.throws(() => parseBackupTime(bad), { code: 'BULWARK_INVALID_BACKUP_TIME' }, bad);
    }
    for (const bad of [1.5, -1, NaN, Infinity, 253402300800]) {
      assert.throws(() => parseBackupTime(bad), { code: 'BULWARK_INVALID_BACKUP_TIME' }, String(bad));
      assert.throws(() => formatBackupTime(bad), { code: 'BULWARK_INVALID_BACKUP_TIME' }, String(bad));
    }
  });
});

describe('auth ids', () => {
  test('accepts users and tokens', () => {
    for (const ok of ['admin@pbs', 'root@pam', 'user@pbs!token', 'first.last@ldap-1!ci_2', 'odd@name@pbs']) {
      assert.equal(validateAuthId(ok), ok);
    }
  });
  test('rejects malformed ones', () => {
    for (const bad of ['', 'admin', '@pbs', 'admin@', 'admin@p', 'ad min@pbs', 'a/b@pbs', 'a:b@pbs', 'a\n@pbs', 'user@pbs!', 'user@pbs!.x', 'user@pbs!a/b']) {
      assert.throws(() => validateAuthId(bad), { code: 'BULWARK_INVALID_NAME' }, bad);
    }
  });
});

describe('backup refs', () => {
  test('parse and format groups and snapshots', () => {
    const g = parseGroupRef('host/web1');
    assert.equal(g.type, 'host');
    assert.equal(g.id, 'web1');
    assert.equal(g.toString(), 'host/web1');
    assert.ok(g.ns.isRoot);
    const s = parseSnapshotRef('host/web1/2026-11-24T10:00:00Z', BackupNamespace.parse('a/b'));
    assert.equal(s.toString(), 'host/web1/2026-11-24T10:00:00Z');
    assert.equal(s.time, Date.UTC(2026, 10, 24, 10) / 1000);
    assert.equal(s.ns.toString(), 'a/b');
    assert.equal(s.describe(), "host/web1/2026-11-24T10:00:00Z in namespace 'a/b'");
    assert.ok(s.equals(new BackupDir(new BackupGroup(BackupNamespace.parse('a/b'), 'host', 'web1'), s.time)));
    assert.ok(Object.isFrozen(s) && Object.isFrozen(s.group));
  });

  test('reject malformed refs', () => {
    for (const bad of ['host', 'host/web1/x', 'host/', '/web1', 'file/web1', 'host/../x', 'host/web1\0']) {
      assert.throws(() => parseGroupRef(bad), { code: 'BULWARK_INVALID_NAME' }, bad);
    }
    for (const bad of ['host/web1', 'host/web1/2026-11-24T10:00:00Z/x', 'host/web1/2026-11-24']) {
      assert.throws(() => parseSnapshotRef(bad), (e: { code?: string }) => e.code === 'BULWARK_INVALID_NAME' || e.code === 'BULWARK_INVALID_BACKUP_TIME', bad);
    }
  });

  test('ordering', () => {
    const ns = ['b', '', 'a/x', 'a'].map((t) => BackupNamespace.parse(t)).sort(compareNamespaces);
    assert.deepEqual(ns.map(String), ['', 'a', 'a/x', 'b']);
    const groups = ['vm/100', 'ct/5', 'host/b', 'host/a'].map((t) => parseGroupRef(t)).sort(compareGroups);
    assert.deepEqual(groups.map(String), ['ct/5', 'host/a', 'host/b', 'vm/100']);
    const g = parseGroupRef('vm/100');
    const snaps = [30, 10, 20].map((t) => g.snapshot(t));
    assert.deepEqual(sortSnapshots(snaps).map((d) => d.time), [10, 20, 30]);
    assert.deepEqual(sortSnapshots(snaps.map((dir) => ({ dir })), 'desc').map((x) => x.dir.time), [30, 20, 10]);
  });
});

describe('layout', () => {
  const store = '/srv/store';
  const ns = BackupNamespace.parse('a/b');
  const group = new BackupGroup(ns, 'host', 'web1');
  const dir = group.snapshot('2026-11-24T10:00:00Z');

  test('data paths', () => {
    assert.equal(namespacePath(store, BackupNamespace.root), '/srv/store');
    assert.equal(namespacePath(store, ns), '/srv/store/ns/a/ns/b');
    assert.equal(groupPath(store, group), '/srv/store/ns/a/ns/b/host/web1');
    assert.equal(snapshotPath(store, dir), '/srv/store/ns/a/ns/b/host/web1/2026-11-24T10:00:00Z');
    assert.equal(groupPath(store + '/', parseGroupRef('vm/100')), '/srv/store/vm/100');
  });

  test('lock paths mirror the data layout under .locks', () => {
    assert.equal(groupLockPath(store, group), '/srv/store/.locks/ns/a/ns/b/host/web1.lock');
    assert.equal(snapshotLockPath(store, dir), '/srv/store/.locks/ns/a/ns/b/host/web1/2026-11-24T10:00:00Z.lock');
    assert.equal(jobLockPath(store, 'gc'), '/srv/store/.locks/jobs/gc.lock');
    assert.equal(writersDir(store), '/srv/store/.locks/writers');
    assert.throws(() => jobLockPath(store, '../gc'), { code: 'BULWARK_INVALID_NAME' });
  });
});
