/**
 * CRC-32 (IEEE, as zlib computes it) for blob headers and archive records.
 * @node-rs/crc32's SIMD code runs at ~10 GB/s here against ~1.6 GB/s for
 * node:zlib's, which made the CRC the largest cost after SHA-256 in verify.
 * Same polynomial and results (test/datastore/blob.test.ts checks against zlib).
 */
export { crc32 } from '@node-rs/crc32';
