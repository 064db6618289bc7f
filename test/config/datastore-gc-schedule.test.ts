import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadDatastoreConfig, saveDatastoreEntry } from '../../config/datastore-config.ts';

const dir = mkdtempSync(join(tmpdir(), 'bulwark-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('a calendar or cron gc-schedule is saved and read back; absent stays absent', () => {
  const file = join(dir, 'ok.json');
  saveDatastoreEntry(file, { name: 'a', path: '/srv/a', 'gc-schedule': 'daily' });
  saveDatastoreEntry(file, { name: 'b', path: '/srv/b', 'gc-schedule': '30 4 * * 0' });
  saveDatastoreEntry(file, { name: 'c', path: '/srv/c' });
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.deepEqual(loadDatastoreConfig(file).data, {
    a: { name: 'a', path: '/srv/a', 'gc-schedule': 'daily' },
    b: { name: 'b', path: '/srv/b', 'gc-schedule': '30 4 * * 0' },
    c: { name: 'c', path: '/srv/c' },
  });
});

test('saving a bad gc-schedule is BULWARK_BAD_SCHEDULE and writes nothing', () => {
  const file = join(dir, 'save.json');
  saveDatastoreEntry(file, { name: 'a', path: '/srv/a' });
  const before = readFileSync(file, 'utf8');
  assert.throws(() => saveDatastoreEntry(file, { name: 'a', path: '/srv/a', 'gc-schedule': 'fortnightly' }), { code: 'BULWARK_BAD_SCHEDULE' });
  assert.equal(readFileSync(file, 'utf8'), before);
});

test('a bad gc-schedule on disk is BULWARK_CONFIG_INVALID naming the file and field', () => {
  const file = join(dir, 'bad.json');
  for (const bad of ['25:00', 'fortnightly', 5]) {
    writeFileSync(file, JSON.stringify({ s: { path: '/x', 'gc-schedule': bad } }));
    assert.throws(() => loadDatastoreConfig(file), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'BULWARK_CONFIG_INVALID');
      assert.match(err.message, /datastore s\.gc-schedule/);
      assert.ok(err.message.includes(file));
      return true;
    });
  }
});
