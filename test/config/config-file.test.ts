import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadDatastoreConfig, saveDatastoreEntry } from '../../config/datastore-config.ts';

const dir = mkdtempSync(join(tmpdir(), 'bulwark-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('a write based on a stale digest is refused and changes nothing', () => {
  const file = join(dir, 'datastore.json');
  const first = loadDatastoreConfig(file);
  const a = saveDatastoreEntry(file, { name: 'a', path: '/srv/a' }, first.digest);
  assert.equal(statSync(file).mode & 0o777, 0o600);
  const before = readFileSync(file, 'utf8');
  assert.throws(() => saveDatastoreEntry(file, { name: 'b', path: '/srv/b' }, first.digest), { code: 'BULWARK_CONFIG_DIGEST' });
  assert.equal(readFileSync(file, 'utf8'), before);
  saveDatastoreEntry(file, { name: 'b', path: '/srv/b' }, a.digest);
  assert.deepEqual(Object.keys(loadDatastoreConfig(file).data), ['a', 'b']);
});

test('invalid config files and entries give BULWARK_CONFIG_INVALID or BULWARK_INVALID_NAME', () => {
  const file = join(dir, 'bad.json');
  writeFileSync(file, '{ not json');
  assert.throws(() => loadDatastoreConfig(file), { code: 'BULWARK_CONFIG_INVALID' });
  writeFileSync(file, JSON.stringify({ s: { path: 'relative/path' } }));
  assert.throws(() => loadDatastoreConfig(file), { code: 'BULWARK_CONFIG_INVALID' });
  writeFileSync(file, JSON.stringify({ s: { path: '/x', 'maintenance-mode': 'sleepy' } }));
  assert.throws(() => loadDatastoreConfig(file), { code: 'BULWARK_CONFIG_INVALID' });
  writeFileSync(file, JSON.stringify({ '../etc': { path: '/x' } }));
  assert.throws(() => loadDatastoreConfig(file), { code: 'BULWARK_CONFIG_INVALID' });
  assert.throws(() => saveDatastoreEntry(join(dir, 'ok.json'), { name: '../x', path: '/x' }), { code: 'BULWARK_INVALID_NAME' });
});
