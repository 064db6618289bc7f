import { test } from 'node:test';
import assert from 'node:assert/strict';
import { archiveNames, parseArchiveSpec } from '../../client/archive-spec.ts';

test('a snapshot\'s files are listed as the archives restore takes', () => {
  assert.deepEqual(
    archiveNames(['root.pbxar.didx', 'root.mbxar.didx', 'root.bcat.blob', 'disk.img.fidx', 'index.json.blob', 'client.log.blob', 'README']),
    ['README', 'client.log', 'disk.img', 'index.json', 'root.bxar'],
  );
  assert.deepEqual(archiveNames([]), []);
});

test('archive arguments: NAME.bxar:DIR and NAME.img:FILE, anything else a clear error', () => {
  assert.deepEqual(parseArchiveSpec('root.bxar:/etc'), { kind: 'tree', name: 'root', path: '/etc' });
  assert.deepEqual(parseArchiveSpec('disk.img:/dev/vg0/a:b'), { kind: 'image', name: 'disk', path: '/dev/vg0/a:b' });
  for (const bad of ['root.tar:/etc', 'root.bxar:', ':/etc', '-x.img:/a', 'root.bxar']) {
    assert.throws(() => parseArchiveSpec(bad), { code: 'BULWARK_INVALID_ARGUMENT', message: /expected NAME\.bxar:DIR or NAME\.img:FILE/ });
  }
});
