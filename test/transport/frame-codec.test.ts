import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Packr } from 'msgpackr';
import { bulwarkError } from '../../errors.ts';
import {
  BULK_REPLY_BYTES, decodeFrame, encodeFrame, encodeReplyParts, faultToWire, parseBackupRequest, parseReaderRequest, toWireFrame,
} from '../../transport/frame-codec.ts';

const d32 = Buffer.alloc(32, 7);
const roundTrip = (v: unknown) => parseBackupRequest(decodeFrame(encodeFrame(v)));

test('encodes plain msgpack maps (no records) that any msgpack reader decodes', () => {
  const bytes = encodeFrame({ id: 1, ok: { data: Buffer.from('abc') } });
  assert.ok((bytes[0]! & 0xf0) === 0x80 || bytes[0] === 0xde, 'a msgpack map, not a record extension');
  const plain = new Packr({ useRecords: false }).unpack(bytes) as { id: number; ok: { data: Uint8Array } };
  assert.equal(plain.id, 1);
  assert.deepEqual(Buffer.from(plain.ok.data), Buffer.from('abc'));
});

test('every backup op decodes into its typed request', () => {
  assert.deepEqual(roundTrip({ id: 1, op: 'previous', name: 'root.pxar.didx' }), { id: 1, op: 'previous', name: 'root.pxar.didx' });
  assert.deepEqual(roundTrip({ id: 2, op: 'resume' }), { id: 2, op: 'resume' });
  assert.deepEqual(roundTrip({ id: 3, op: 'create-index', kind: 'dynamic', name: 'a.didx' }), { id: 3, op: 'create-index', kind: 'dynamic', name: 'a.didx' });
  assert.deepEqual(
    roundTrip({ id: 4, op: 'create-index', kind: 'fixed', name: 'd.img.fidx', size: 2 ** 40, 'chunk-size': 4 << 20 }),
    { id: 4, op: 'create-index', kind: 'fixed', name: 'd.img.fidx', size: 2 ** 40, chunkSize: 4 << 20 },
  );
  const c = roundTrip({ id: 5, op: 'chunk', wid: 1, digest: d32, size: 3, data: Buffer.from('xyz') });
  assert.equal(c.op, 'chunk');
  assert.deepEqual(Buffer.from((c as { data: Uint8Array }).data), Buffer.from('xyz'));
  assert.deepEqual(roundTrip({ id: 6, op: 'append', wid: 1, digests: Buffer.concat([d32, d32]), offsets: [10, 20] }).op, 'append');
  assert.deepEqual(roundTrip({ id: 7, op: 'close-index', wid: 1, count: 2, size: 20, csum: d32 }).op, 'close-index');
  assert.deepEqual(roundTrip({ id: 8, op: 'blob', name: 'x.blob', data: Buffer.alloc(4) }).op, 'blob');
  assert.deepEqual(roundTrip({ id: 9, op: 'finish' }), { id: 9, op: 'finish' });
});

test('reader ops decode; backup ops are unknown to the reader and vice versa', () => {
  const r = (v: unknown) => parseReaderRequest(decodeFrame(encodeFrame(v)));
  assert.deepEqual(r({ id: 1, op: 'manifest' }), { id: 1, op: 'manifest' });
  assert.deepEqual(r({ id: 2, op: 'index', name: 'a.didx' }), { id: 2, op: 'index', name: 'a.didx' });
  assert.equal(r({ id: 3, op: 'chunk', digest: d32 }).op, 'chunk');
  assert.throws(() => r({ id: 4, op: 'finish' }), { code: 'BULWARK_PROTOCOL', message: /unknown op "finish" for a reader session/ });
  assert.throws(() => roundTrip({ id: 4, op: 'manifest' }), { code: 'BULWARK_PROTOCOL', message: /unknown op "manifest" for a backup session/ });
});

test('malformed frames are BULWARK_PROTOCOL naming what is wrong', () => {
  const cases: [unknown, RegExp][] = [
    [[1, 2], /not a msgpack map/],
    ['hello', /not a msgpack map/],
    [null, /not a msgpack map/],
    [{ op: 'finish' }, /field 'id' must be an unsigned integer/],
    [{ id: -1, op: 'finish' }, /field 'id'/],
    [{ id: 1.5, op: 'finish' }, /field 'id'/],
    [{ id: 1 }, /request 1: field 'op' must be a string/],
    [{ id: 1, op: 'previous' }, /'previous' request 1: field 'name' must be a non-empty string/],
    [{ id: 1, op: 'create-index', kind: 'other', name: 'a' }, /field 'kind' must be 'fixed' or 'dynamic'/],
    [{ id: 1, op: 'create-index', kind: 'fixed', name: 'a.fidx', size: 1 }, /field 'chunk-size'/],
    [{ id: 1, op: 'chunk', wid: 1, digest: Buffer.alloc(31), size: 1, data: Buffer.alloc(1) }, /field 'digest' must be 32 bytes of bin/],
    [{ id: 1, op: 'chunk', wid: 1, digest: 'ab', size: 1, data: Buffer.alloc(1) }, /field 'digest' must be bin/],
    [{ id: 1, op: 'chunk', digest: d32, size: 1, data: Buffer.alloc(1) }, /field 'wid'/],
    [{ id: 1, op: 'append', wid: 1, digests: Buffer.alloc(33), offsets: [1] }, /field 'digests' must be a multiple of 32/],
    [{ id: 1, op: 'append', wid: 1, digests: d32, offsets: [1, 2] }, /field 'offsets' must be one offset per digest \(1\)/],
    [{ id: 1, op: 'append', wid: 1, digests: d32, offsets: ['1'] }, /field 'offsets' must be an array of unsigned integers/],
    [{ id: 1, op: 'close-index', wid: 1, count: 0, size: 0 }, /field 'csum' must be bin/],
    [{ id: 1, op: 'nope' }, /unknown op "nope"/],
  ];
  for (const [value, message] of cases) {
    assert.throws(() => roundTrip(value), { code: 'BULWARK_PROTOCOL', message }, JSON.stringify(value));
  }
});

test('bytes that are not msgpack are BULWARK_PROTOCOL', () => {
  assert.throws(() => decodeFrame(Buffer.from([0x82, 0xa2])), { code: 'BULWARK_PROTOCOL', message: /not a msgpack value/ });
  assert.throws(() => decodeFrame(Buffer.from('{"id":1}')), { code: 'BULWARK_PROTOCOL' });
  assert.throws(() => parseBackupRequest(decodeFrame(Buffer.from([0xc1]))), { code: 'BULWARK_PROTOCOL', message: /not a msgpack map/ });
});

test('an oversized chunk is BULWARK_CHUNK_TOO_LARGE, by raw size or by encoded size', () => {
  assert.throws(() => roundTrip({ id: 1, op: 'chunk', wid: 1, digest: d32, size: (16 << 20) + 1, data: Buffer.alloc(1) }), { code: 'BULWARK_CHUNK_TOO_LARGE' });
  const data = Buffer.alloc((16 << 20) + 45);
  assert.throws(() => parseBackupRequest({ id: 1, op: 'chunk', wid: 1, digest: d32, size: 1, data }), { code: 'BULWARK_CHUNK_TOO_LARGE' });
  assert.equal(parseBackupRequest({ id: 1, op: 'chunk', wid: 1, digest: d32, size: 1, data: data.subarray(1) }).op, 'chunk', '16 MiB + 44 is the limit');
});

test('faults become { code, message }; internal errors keep their details to the server', () => {
  const seen: unknown[] = [];
  const boom = new Error('secret path /x');
  assert.deepEqual(toWireFrame({ id: 3, error: { thrown: boom } }, (e) => seen.push(e)), {
    id: 3, error: { code: 'BULWARK_INTERNAL', message: 'internal error (see the server log)' },
  });
  assert.deepEqual(seen, [boom]);
  assert.deepEqual(toWireFrame({ op: 'abort', error: { code: 'BULWARK_CREDIT_OVERRUN', args: [10, 5] } }), {
    op: 'abort', error: { code: 'BULWARK_CREDIT_OVERRUN', message: 'client sent 10 bytes with only 5 bytes of credit' },
  });
  assert.equal(faultToWire({ thrown: bulwarkError('BULWARK_LOCKED', 'group host/a', 'held') }).status, 409);
  assert.deepEqual(toWireFrame({ op: 'credit', bytes: 5 }), { op: 'credit', bytes: 5 });
});

test('a reply with a large data bin splits into header and payload that join to the same msgpack bytes', () => {
  for (const size of [BULK_REPLY_BYTES, 300_000, 5 * 1024 * 1024]) {
    const data = Buffer.alloc(size, size % 251);
    const frame = { id: 77, ok: { data } };
    const parts = encodeReplyParts(frame);
    assert.ok(parts, `split at ${size} bytes`);
    assert.equal(parts[1], data, 'the payload itself, not a copy');
    const joined = Buffer.concat([parts[0], parts[1]]);
    assert.deepEqual(decodeFrame(joined), { id: 77, ok: { data } });
    assert.deepEqual(new Packr({ useRecords: false }).unpack(joined), { id: 77, ok: { data } }, 'any msgpack reader decodes it');
  }
});

test('small data, data not last, errors and notices are not split', () => {
  const big = Buffer.alloc(BULK_REPLY_BYTES);
  assert.equal(encodeReplyParts({ id: 1, ok: { data: Buffer.alloc(100) } }), undefined);
  assert.equal(encodeReplyParts({ id: 1, ok: { data: big, size: 3 } }), undefined);
  assert.equal(encodeReplyParts({ ok: { data: big }, id: 1 }), undefined);
  assert.equal(encodeReplyParts({ id: 1, error: { code: 'X', message: 'y' } }), undefined);
  assert.equal(encodeReplyParts({ op: 'credit', bytes: 5 }), undefined);
});
