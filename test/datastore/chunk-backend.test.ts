import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createChunkDir, FsChunkBackend } from '../../datastore/fs-chunk-backend.ts';
import { MemChunkBackend } from '../../datastore/mem-chunk-backend.ts';
import { collect, fakeClock, makeChunk, removeDir, sparseStoreDir, tempDir, tmpfsTempDir } from '../helpers/chunk-fixtures.ts';
import { backendSuite } from './backend-suite.ts';

const root = tempDir();
after(() => removeDir(root));

backendSuite('mem', (clock) => ({ backend: new MemChunkBackend({ now: clock.now }) }));
backendSuite('fs', (clock) => ({ backend: new FsChunkBackend(sparseStoreDir(root), { now: clock.now }) }));

describe('FsChunkBackend layout', () => {
  test('createChunkDir makes .chunks with all 65536 prefix dirs, and a rerun is harmless', () => {
    const dir = tmpfsTempDir();
    try {
      createChunkDir(dir);
      const names = readdirSync(join(dir, '.chunks'));
      assert.equal(names.length, 65536);
      assert.ok(names.includes('0000') && names.includes('ffff') && names.includes('a1b2'));
      assert.ok(names.every((n) => /^[0-9a-f]{4}$/.test(n)));
      createChunkDir(dir);
      assert.equal(readdirSync(join(dir, '.chunks')).length, 65536);
    } finally {
      removeDir(dir);
    }
  });

  test('get with a buffer reads the file into it; a file that changed size under the read is BULWARK_IO', async () => {
    const store = sparseStoreDir(root);
    const backend = new FsChunkBackend(store);
    const c = makeChunk(5);
    await backend.put(c.hex, c.blob, { sync: 'none' });
    const asked: number[] = [];
    const got = await backend.get(c.hex, (n) => (asked.push(n), Buffer.alloc(n)));
    assert.deepEqual([asked, got], [[c.blob.length], c.blob]);
    // A buffer longer than the file (the file shrank after its size was read) cannot be filled.
    await assert.rejects(backend.get(c.hex, (n) => Buffer.alloc(n + 10)), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'BULWARK_IO');
      assert.match(err.message, /file ended after \d+ of \d+ bytes/);
      return true;
    });
    assert.deepEqual(await backend.get(c.hex), c.blob, 'the chunk is untouched');
  });

  test('a chunk lives at .chunks/<first 4 hex>/<64 hex> and no temp file is left', async () => {
    const store = sparseStoreDir(root);
    const backend = new FsChunkBackend(store);
    const c = makeChunk(1);
    for (const sync of ['none', 'filesystem', 'file'] as const) await backend.put(c.hex, c.blob, { sync });
    const prefixDir = join(store, '.chunks', c.hex.slice(0, 4));
    assert.deepEqual(readdirSync(prefixDir), [c.hex]);
    assert.equal(statSync(join(prefixDir, c.hex)).size, c.blob.length);
  });

  test('put recreates a prefix dir that went missing', async () => {
    const store = sparseStoreDir(root);
    const backend = new FsChunkBackend(store);
    const c = makeChunk(2);
    assert.equal(existsSync(join(store, '.chunks', c.hex.slice(0, 4))), false);
    await backend.put(c.hex, c.blob, { sync: 'file' });
    assert.deepEqual(await backend.get(c.hex), c.blob);
  });

  test('list and listBad skip temp files and foreign names', async () => {
    const store = sparseStoreDir(root);
    const backend = new FsChunkBackend(store);
    const c = makeChunk(3);
    await backend.put(c.hex, c.blob, { sync: 'none' });
    const prefixDir = join(store, '.chunks', c.hex.slice(0, 4));
    writeFileSync(join(prefixDir, `.${c.hex}.123.abcdef.tmp`), 'partial');
    writeFileSync(join(prefixDir, 'README'), 'not a chunk');
    writeFileSync(join(prefixDir, c.hex.toUpperCase()), 'not a chunk either');
    mkdirSync(join(store, '.chunks', 'zzzz'));
    assert.deepEqual((await collect(backend.list())).map((e) => e.digest), [c.hex]);
    assert.deepEqual(await collect(backend.listBad()), []);
  });

  test('ids that are not 64 lowercase hex never reach the filesystem', async () => {
    const backend = new FsChunkBackend(sparseStoreDir(root));
    for (const id of ['../../../../etc/passwd', 'ab', 'A'.repeat(64), `${'a'.repeat(64)}/x`]) {
      await assert.rejects(backend.get(id), { code: 'BULWARK_INVALID_ARGUMENT' });
      await assert.rejects(backend.put(id, Buffer.alloc(20), { sync: 'none' }), { code: 'BULWARK_INVALID_ARGUMENT' });
    }
    await assert.rejects(backend.removeBad('../x.0.bad'), { code: 'BULWARK_INVALID_ARGUMENT' });
  });

  test('touch with the real clock moves atime forward', async () => {
    const store = sparseStoreDir(root);
    const backend = new FsChunkBackend(store, { now: fakeClock(1_000_000_000_000).now }); // 2001
    const real = new FsChunkBackend(store);
    const c = makeChunk(4);
    await backend.put(c.hex, c.blob, { sync: 'none' });
    const before = (await backend.stat(c.hex))!.atimeMs;
    assert.equal(await real.touch(c.hex), true);
    assert.ok((await real.stat(c.hex))!.atimeMs > before);
  });
});
