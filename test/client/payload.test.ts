import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { type PayloadItem, PayloadWriter, memoryPayloadSource } from '../../client/archive/payload.ts';
import { streamBytes } from '../helpers/tree-fixtures.ts';
import { FAKE_CHUNK_SIZE as K, memoryIndex } from '../helpers/payload-fixtures.ts';

/** A previous payload of 5 chunks and a bit (64 KiB each, the last 1000 bytes). */
const PREV = memoryIndex(streamBytes(7, 5 * K + 1000));
const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Chunk indexes of the previous payload named by a 'chunks' item. */
const chunkNumbers = (item: PayloadItem | undefined): number[] => {
  assert.equal(item?.kind, 'chunks');
  const digests = [...PREV.index.digests()].map((d) => d.toString('hex'));
  return item.kind === 'chunks' ? item.chunks.map((c) => digests.indexOf(c.digest.toString('hex'))) : [];
};

async function drain(w: PayloadWriter): Promise<PayloadItem[]> {
  const out: PayloadItem[] = [];
  for await (const item of w.items()) out.push(item);
  return out;
}

describe('PayloadWriter', () => {
  test('position counts data and reused bytes; items come out in order', async () => {
    const w = new PayloadWriter({ previous: PREV.index });
    assert.equal(w.position, 0);
    await w.write(Buffer.from('abc'));
    await w.write(Buffer.alloc(0));
    assert.equal(w.position, 3);
    assert.equal(w.reuse(10, 20), 13, 'chunk 0 lands at 3, so previous byte 10 is at 13');
    assert.equal(w.position, 3 + K);
    await w.write(Buffer.from('de'));
    assert.equal(w.position, 5 + K);
    w.end();
    w.end(); // idempotent
    const items = await drain(w);
    assert.deepEqual(items.map((i) => i.kind), ['data', 'chunks', 'data']);
    assert.deepEqual(chunkNumbers(items[1]), [0]);
    assert.equal(items[1]!.kind === 'chunks' && items[1]!.chunks[0]!.size, K);
    assert.throws(() => w.write(Buffer.from('x')), { code: 'BULWARK_INTERNAL' });
    assert.throws(() => w.reuse(0, 1), { code: 'BULWARK_INTERNAL' });
  });

  test('write() waits while the queue is at the high-water mark, until the consumer takes data', async () => {
    const w = new PayloadWriter({ highWaterMark: 10 });
    await w.write(Buffer.alloc(8)); // 8 < 10: at once
    let second = false;
    const pending = w.write(Buffer.alloc(8)).then(() => (second = true));
    await tick();
    assert.equal(second, false, 'held back: 16 bytes queued');
    const it = w.items()[Symbol.asyncIterator]();
    assert.equal((await it.next()).value?.kind, 'data');
    await pending;
    assert.equal(second, true, 'released once 8 bytes were taken');
    let third = false;
    const p3 = w.write(Buffer.alloc(1)).then(() => (third = true));
    await tick();
    assert.equal(third, true, '9 bytes queued: below the mark');
    await p3;
    w.end();
    assert.equal((await it.next()).value?.kind, 'data');
    assert.equal((await it.next()).value?.kind, 'data');
    assert.equal((await it.next()).done, true);
    assert.throws(() => w.items(), { code: 'BULWARK_INTERNAL' }, 'single consumer');
  });

  test('a consumer that stops makes waiting and later writes fail instead of hanging', async () => {
    const w = new PayloadWriter({ highWaterMark: 4 });
    const waiting = [w.write(Buffer.alloc(8)), w.write(Buffer.alloc(8))].map((p) => assert.rejects(p, { code: 'BULWARK_INTERNAL' }));
    for await (const _ of w.items()) break; // takes the first buffer; 8 bytes still queued, above the mark
    await Promise.all(waiting);
    await assert.rejects(w.write(Buffer.alloc(1)), { code: 'BULWARK_INTERNAL' });
  });

  test('a range inside one chunk reuses that chunk; the rest of it is padding', async () => {
    const w = new PayloadWriter({ previous: PREV.index });
    assert.equal(w.reuse(K + 100, K + 600), 100);
    assert.deepEqual(w.stats, { reusedChunks: 1, reusedBytes: K, paddingBytes: K - 500 });
    w.end();
    const items = await drain(w);
    assert.deepEqual(chunkNumbers(items[0]), [1]);
  });

  test('a range spanning chunks reuses all of them, the last one short', async () => {
    const w = new PayloadWriter({ previous: PREV.index });
    await w.write(Buffer.alloc(7));
    assert.equal(w.reuse(3 * K + 5, 5 * K + 1000), 7 + 5);
    assert.deepEqual(w.stats, { reusedChunks: 3, reusedBytes: 2 * K + 1000, paddingBytes: 5 });
    assert.equal(w.position, 7 + 2 * K + 1000);
    w.end();
    const items = await drain(w);
    assert.deepEqual(chunkNumbers(items[1]), [3, 4, 5]);
    assert.equal(items[1]!.kind === 'chunks' && items[1]!.chunks[2]!.size, 1000);
  });

  test('consecutive ranges share chunks: nothing is appended twice while the run goes on', async () => {
    const w = new PayloadWriter({ previous: PREV.index });
    assert.equal(w.reuse(100, K + 50), 100); // chunks 0, 1
    assert.equal(w.reuse(K + 50, 2 * K + 10), K + 50); // starts in chunk 1: adds chunk 2 only
    assert.equal(w.reuse(2 * K + 10, 2 * K + 20), 2 * K + 10); // inside chunk 2: adds nothing
    assert.equal(w.position, 3 * K);
    await w.write(Buffer.from('new data'));
    // Inside the run although data came after it: its bytes are already there, earlier in the stream.
    assert.equal(w.reuse(2 * K + 20, 2 * K + 30), 2 * K + 20);
    // Starts inside the run but needs chunk 3, which cannot follow the run any more: chunk 2 comes again.
    const again = w.reuse(2 * K + 30, 3 * K + 5);
    assert.equal(again, 3 * K + 8 + 30);
    assert.equal(w.position, 3 * K + 8 + 2 * K);
    w.end();
    const items = await drain(w);
    assert.deepEqual(items.map((i) => (i.kind === 'data' ? 'data' : chunkNumbers(i).join('+'))), ['0+1', '2', 'data', '2+3']);
    assert.equal(w.stats.reusedChunks, 5);
    assert.equal(w.stats.reusedBytes, 5 * K);
    // Covered: [100, 2K+30) in the first run, [2K+30, 3K+5) in the second.
    assert.equal(w.stats.paddingBytes, 3 * K - (2 * K + 30 - 100) + 2 * K - (K - 25));
  });

  test('padding: bytes of reused chunks that no reused file covers, counted once even when ranges come out of order', () => {
    const w = new PayloadWriter({ previous: PREV.index });
    w.reuse(0, 1000); // chunk 0
    assert.equal(w.stats.paddingBytes, K - 1000);
    w.reuse(5000, 2 * K); // chunk 1 follows; [1000, 5000) is, say, a changed file's old content
    assert.equal(w.stats.paddingBytes, 4000);
    w.reuse(1000, 3000); // back inside the run: part of the gap belongs to a file after all
    assert.equal(w.stats.paddingBytes, 2000);
    w.reuse(500, 1500); // already covered
    assert.equal(w.stats.paddingBytes, 2000);
    w.reuse(2500, 6000); // bridges the two covered stretches
    assert.equal(w.stats.paddingBytes, 0);
    w.reuse(2 * K, 2 * K + 100); // starts right after the run: chunk 2 extends it
    assert.deepEqual(w.stats, { reusedChunks: 3, reusedBytes: 3 * K, paddingBytes: K - 100 });
  });

  test('a range inside an earlier run maps there; a range right after the last run extends it', async () => {
    const w = new PayloadWriter({ previous: PREV.index });
    assert.equal(w.reuse(10, K), 10); // chunk 0, ending on its boundary
    assert.equal(w.reuse(K, K + 10), K); // chunk 1 follows: same run
    await w.write(Buffer.from('xyz'));
    assert.equal(w.reuse(3 * K, 3 * K + 5), 2 * K + 3); // elsewhere: a new run, chunk 3
    assert.equal(w.reuse(K + 10, K + 20), K + 10, 'back in the first run: nothing appended');
    assert.equal(w.reuse(5, 10), 5);
    assert.equal(w.position, 3 * K + 3);
    assert.equal(w.stats.reusedChunks, 3);
    w.end();
    const items = await drain(w);
    assert.deepEqual(items.map((i) => (i.kind === 'data' ? 'data' : chunkNumbers(i).join('+'))), ['0', '1', 'data', '3']);
  });

  test('ranges outside the previous payload, empty ranges, and reuse without a previous payload are refused', () => {
    const w = new PayloadWriter({ previous: PREV.index });
    const total = PREV.index.totalSize();
    for (const [a, b] of [[-1, 10], [0, total + 1], [total, total + 1], [10, 10], [20, 10], [0.5, 10], [0, Number.NaN]] as const) {
      assert.throws(() => w.reuse(a, b), { code: 'BULWARK_INVALID_ARGUMENT' }, `[${a}, ${b})`);
    }
    assert.equal(w.position, 0);
    assert.deepEqual(w.stats, { reusedChunks: 0, reusedBytes: 0, paddingBytes: 0 });
    assert.equal(w.reuse(0, total), 0, 'the whole previous payload is fine');
    assert.throws(() => new PayloadWriter().reuse(0, 1), { code: 'BULWARK_INVALID_ARGUMENT' });
    assert.equal(new PayloadWriter().hasPrevious, false);
  });
});

describe('memoryPayloadSource', () => {
  test('reads ranges in pieces, and refuses ranges outside the buffer as corrupt', async () => {
    const src = memoryPayloadSource(Buffer.from('0123456789'), { pieceSize: 3 });
    const read = async (o: number, l: number) => {
      const parts: string[] = [];
      for await (const b of src.read(o, l)) parts.push(b.toString());
      return parts;
    };
    assert.deepEqual(await read(1, 7), ['123', '456', '7']);
    assert.deepEqual(await read(10, 0), []);
    await assert.rejects(read(8, 3), { code: 'BULWARK_ARCHIVE_CORRUPT' });
    await assert.rejects(read(-1, 2), { code: 'BULWARK_ARCHIVE_CORRUPT' });
  });
});
