import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { crc32 as zlibCrc32 } from 'node:zlib';
import { crc32 } from '../../datastore/crc32.ts';

describe('crc32', () => {
  test('equals zlib for every length around the small-input cut, empty included', () => {
    const data = randomBytes(2048);
    for (const n of [0, 1, 2, 7, 60, 255, 511, 512, 513, 1024, 2048]) {
      assert.equal(crc32(data.subarray(0, n)), zlibCrc32(data.subarray(0, n)), `length ${n}`);
    }
  });

  test('continues from a previous value across both paths, as zlib does', () => {
    const a = randomBytes(40);
    const b = randomBytes(1000);
    const whole = zlibCrc32(Buffer.concat([a, b]));
    assert.equal(crc32(b, crc32(a)), whole);
    assert.equal(crc32(b.subarray(0, 100), crc32(a)), zlibCrc32(Buffer.concat([a, b.subarray(0, 100)])));
    assert.equal(crc32(a, crc32(b)), zlibCrc32(Buffer.concat([b, a])));
  });
});
