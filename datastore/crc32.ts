/**
 * CRC-32 (IEEE, as zlib computes it) for blob headers and archive records.
 * @node-rs/crc32's SIMD code runs at ~10 GB/s here against ~1.6 GB/s for
 * node:zlib's, which made the CRC the largest cost after SHA-256 in verify.
 * Same polynomial and results (test/datastore/blob.test.ts checks against zlib).
 *
 * An N-API call costs about 1.5 µs whatever the length, which is most of
 * the cost of encoding or decoding one archive record (tens of bytes, one
 * per file): inputs below SMALL go through a byte table in JavaScript
 * (~2 ns a byte) instead.
 */
import { lazyAddon } from '../native/lazy-addon.ts';

/** Loaded on first use: short inputs (and CLI runs that only see those) never need the addon. */
const simd = lazyAddon<typeof import('@node-rs/crc32')>('@node-rs/crc32');

const SMALL = 512;

const TABLE = (() => {
  const t = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  return t;
})();

/** Loads the SIMD addon now, for a thread whose work is long inputs (a decode worker, while it boots). */
export function loadCrc32Addon(): void {
  simd();
}

/** CRC-32 of `data`, continuing from `initial` (a previous result) when given. */
export function crc32(data: Uint8Array, initial = 0): number {
  if (data.length >= SMALL) return simd().crc32(data, initial);
  let c = ~initial;
  for (let i = 0; i < data.length; i++) c = TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}
