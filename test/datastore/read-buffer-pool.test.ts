import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HEADROOM, ReadBufferPool } from '../../datastore/read-buffer-pool.ts';

test('a buffer given back is taken again (best fit); one still out never is', () => {
  const pool = new ReadBufferPool();
  const a = pool.take(1000);
  const b = pool.take(3 * 1024 * 1024);
  assert.deepEqual([a.length, b.length, a.byteOffset], [1000, 3 * 1024 * 1024, HEADROOM]);
  assert.notEqual(a.buffer, b.buffer);
  pool.give(b);
  pool.give(a);
  assert.equal(pool.take(500).buffer, a.buffer, 'the smallest free buffer that fits');
  assert.equal(pool.take(2 * 1024 * 1024).buffer, b.buffer);
  assert.notEqual(pool.take(500).buffer, a.buffer, 'a is out again: a new buffer');
});

test('giving back twice, or giving what the pool did not make, changes nothing', () => {
  const pool = new ReadBufferPool();
  const a = pool.take(100);
  pool.give(a);
  pool.give(a); // a second give must not put it on the free list twice (two reads would share it)
  pool.give(Buffer.alloc(100));
  pool.give(new Uint8Array(new SharedArrayBuffer(100)));
  const x = pool.take(100);
  const y = pool.take(100);
  assert.equal(x.buffer, a.buffer);
  assert.notEqual(y.buffer, a.buffer);
});

test('free buffers beyond the kept total are dropped', () => {
  const pool = new ReadBufferPool(1024 * 1024);
  const a = pool.take(600 * 1024);
  const b = pool.take(600 * 1024);
  pool.give(a);
  pool.give(b); // over the limit: not kept
  assert.equal(pool.take(600 * 1024).buffer, a.buffer);
  assert.notEqual(pool.take(600 * 1024).buffer, b.buffer);
});

test('withHead writes the header into the room in front of the data, only for buffers out of this pool', () => {
  const pool = new ReadBufferPool();
  const data = pool.take(10);
  data.fill(7);
  const head = Buffer.from([1, 2, 3]);
  const whole = pool.withHead(data, head)!;
  assert.deepEqual([...whole], [1, 2, 3, ...Array(10).fill(7)]);
  assert.equal(whole.buffer, data.buffer, 'no copy of the data');
  assert.equal(pool.withHead(data, Buffer.alloc(HEADROOM + 1)), undefined, 'a header larger than the room');
  assert.equal(pool.withHead(Buffer.alloc(10), head), undefined, 'not from the pool');
  pool.give(data);
  assert.equal(pool.withHead(data, head), undefined, 'given back already');
});
