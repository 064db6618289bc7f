/**
 * The ChunkBackend conformance suite: every backend (fs, mem, later S3) runs
 * these same tests, so ChunkStore can rely on one contract. Call
 * `backendSuite(name, factory)` from a *.test.ts file; the factory gets a
 * clock it must use for atimes.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChunkBackend, SyncLevel } from '../../datastore/chunk-backend.ts';
import { collect, fakeClock, makeChunk, type FakeClock } from '../helpers/chunk-fixtures.ts';

export interface BackendFixture {
  backend: ChunkBackend;
  cleanup?: () => void | Promise<void>;
}

export type BackendFactory = (clock: FakeClock) => BackendFixture | Promise<BackendFixture>;

export function backendSuite(name: string, factory: BackendFactory): void {
  describe(`ChunkBackend conformance: ${name}`, () => {
    const cleanups: Array<() => void | Promise<void>> = [];
    after(async () => {
      for (const c of cleanups) await c();
    });
    const setup = async () => {
      const clock = fakeClock();
      const fx = await factory(clock);
      if (fx.cleanup) cleanups.push(fx.cleanup);
      return { clock, backend: fx.backend };
    };

    test('put then has/stat/get/readHead return the blob', async () => {
      const { backend, clock } = await setup();
      const c = makeChunk(1);
      await backend.put(c.hex, c.blob, { sync: 'none' });
      assert.equal(await backend.has(c.hex), true);
      assert.deepEqual(await backend.stat(c.hex), { size: c.blob.length, atimeMs: clock.now() });
      assert.deepEqual(await backend.get(c.hex), c.blob);
      assert.deepEqual(await backend.readHead(c.hex, 8), c.blob.subarray(0, 8));
      assert.deepEqual(await backend.readHead(c.hex, c.blob.length + 100), c.blob, 'a short blob gives what it has');
    });

    test('get into a caller buffer: the blob comes back whole, in the buffer asked for its size (or a copy of its own)', async () => {
      const { backend } = await setup();
      const c = makeChunk(3);
      await backend.put(c.hex, c.blob, { sync: 'none' });
      const asked: number[] = [];
      const target = Buffer.alloc(c.blob.length + 16, 0xee);
      const got = await backend.get(c.hex, (n) => {
        asked.push(n);
        return target.subarray(8, 8 + n);
      });
      assert.deepEqual(got, c.blob);
      if (asked.length > 0) {
        assert.deepEqual(asked, [c.blob.length]);
        assert.equal(got!.buffer, target.buffer, 'read into the buffer it was given');
        assert.deepEqual([target[7], target[8 + c.blob.length]], [0xee, 0xee], 'nothing written outside it');
      }
      assert.equal(await backend.get(makeChunk(4).hex, () => assert.fail('no buffer for an absent chunk')), undefined);
    });

    test('absent chunks: has false, stat/get/readHead undefined, touch/remove false', async () => {
      const { backend } = await setup();
      const { hex } = makeChunk(2);
      assert.equal(await backend.has(hex), false);
      assert.equal(await backend.stat(hex), undefined);
      assert.equal(await backend.get(hex), undefined);
      assert.equal(await backend.readHead(hex, 8), undefined);
      assert.equal(await backend.touch(hex), false);
      assert.equal(await backend.remove(hex), false);
    });

    test('the stored blob is a copy: mutating the caller buffer changes nothing', async () => {
      const { backend } = await setup();
      const c = makeChunk(3);
      const mine = Buffer.from(c.blob);
      await backend.put(c.hex, mine, { sync: 'none' });
      mine.fill(0);
      (await backend.get(c.hex))!.fill(1);
      assert.deepEqual(await backend.get(c.hex), c.blob);
    });

    test('put replaces an existing blob whole', async () => {
      const { backend } = await setup();
      const a = makeChunk(4, 4096);
      const b = makeChunk(5, 9000);
      await backend.put(a.hex, a.blob, { sync: 'none' });
      await backend.put(a.hex, b.blob, { sync: 'none' });
      assert.deepEqual(await backend.get(a.hex), b.blob);
      assert.equal((await backend.stat(a.hex))!.size, b.blob.length);
    });

    for (const sync of ['none', 'filesystem', 'file'] as SyncLevel[]) {
      test(`put with sync '${sync}' stores the chunk and flush() succeeds`, async () => {
        const { backend } = await setup();
        const c = makeChunk(10);
        await backend.put(c.hex, c.blob, { sync });
        await backend.flush();
        await backend.flush(); // nothing pending: still fine
        assert.deepEqual(await backend.get(c.hex), c.blob);
      });
    }

    test('flush tolerates a chunk removed since it was put', async () => {
      const { backend } = await setup();
      const c = makeChunk(11);
      await backend.put(c.hex, c.blob, { sync: 'filesystem' });
      await backend.remove(c.hex);
      await backend.flush();
    });

    test('touch moves atime to the clock, and put stamps it too', async () => {
      const { backend, clock } = await setup();
      const c = makeChunk(20);
      await backend.put(c.hex, c.blob, { sync: 'none' });
      const t0 = clock.now();
      clock.advance(3_600_000);
      assert.equal(await backend.touch(c.hex), true);
      const st = await backend.stat(c.hex);
      assert.equal(st!.atimeMs, t0 + 3_600_000);
      assert.deepEqual(await backend.get(c.hex), c.blob, 'touch leaves the content alone');
    });

    test('list yields every chunk once with size and atime', async () => {
      const { backend, clock } = await setup();
      assert.deepEqual(await collect(backend.list()), []);
      const chunks = Array.from({ length: 40 }, (_, i) => makeChunk(100 + i, 500 + i * 10));
      for (const c of chunks) {
        await backend.put(c.hex, c.blob, { sync: 'none' });
        clock.advance(1000);
      }
      const listed = await collect(backend.list());
      const want = chunks.map((c, i) => ({ digest: c.hex, size: c.blob.length, atimeMs: clock.now() - (40 - i) * 1000 }));
      const byDigest = (a: { digest: string }, b: { digest: string }) => a.digest.localeCompare(b.digest);
      assert.deepEqual(listed.map((e) => ({ ...e })).sort(byDigest), want.sort(byDigest));
    });

    test('list survives removals while it runs', async () => {
      const { backend } = await setup();
      const chunks = Array.from({ length: 20 }, (_, i) => makeChunk(200 + i));
      for (const c of chunks) await backend.put(c.hex, c.blob, { sync: 'none' });
      const seen = new Set<string>();
      for await (const e of backend.list()) {
        assert.equal(seen.has(e.digest), false, 'no chunk twice');
        seen.add(e.digest);
        for (const c of chunks) await backend.remove(c.hex);
      }
      assert.ok(seen.size >= 1);
      assert.deepEqual(await collect(backend.list()), []);
    });

    test('remove deletes once', async () => {
      const { backend } = await setup();
      const c = makeChunk(30);
      await backend.put(c.hex, c.blob, { sync: 'none' });
      assert.equal(await backend.remove(c.hex), true);
      assert.equal(await backend.remove(c.hex), false);
      assert.equal(await backend.has(c.hex), false);
    });

    test('markBad names copies .0.bad, .1.bad and hides them from list', async () => {
      const { backend } = await setup();
      const c = makeChunk(40);
      const other = makeChunk(41);
      await backend.put(other.hex, other.blob, { sync: 'none' });
      await backend.put(c.hex, c.blob, { sync: 'none' });
      assert.equal(await backend.markBad(c.hex), `${c.hex}.0.bad`);
      assert.equal(await backend.has(c.hex), false);
      await backend.put(c.hex, c.blob.subarray(0, 100), { sync: 'none' });
      assert.equal(await backend.markBad(c.hex), `${c.hex}.1.bad`);

      assert.deepEqual((await collect(backend.list())).map((e) => e.digest), [other.hex]);
      const bad = (await collect(backend.listBad())).sort((a, b) => a.n - b.n);
      assert.deepEqual(
        bad.map(({ digest, name, n, size }) => ({ digest, name, n, size })),
        [
          { digest: c.hex, name: `${c.hex}.0.bad`, n: 0, size: c.blob.length },
          { digest: c.hex, name: `${c.hex}.1.bad`, n: 1, size: 100 },
        ],
      );
      assert.equal(await backend.removeBad(`${c.hex}.0.bad`), true);
      assert.equal(await backend.removeBad(`${c.hex}.0.bad`), false);
      // The lowest free number is reused.
      await backend.put(c.hex, c.blob, { sync: 'none' });
      assert.equal(await backend.markBad(c.hex), `${c.hex}.0.bad`);
    });

    test('markBad of an absent chunk is BULWARK_NOT_FOUND', async () => {
      const { backend } = await setup();
      await assert.rejects(backend.markBad(makeChunk(50).hex), { code: 'BULWARK_NOT_FOUND' });
    });
  });
}
