/**
 * Decoding a chunk into shared memory (a ChunkArena slot) of the exact size
 * its index gives: used by the decode workers and by the inline decoder.
 */
import { decodeChunk } from '../datastore/blob.ts';
import type { CryptKey } from '../datastore/crypt-key.ts';
import { bulwarkError } from '../errors.ts';

const sizeMismatch = (digest: Uint8Array, got: number, size: number) =>
  bulwarkError('BULWARK_ARCHIVE_CORRUPT', 'payload', `chunk ${Buffer.from(digest).toString('hex')} holds ${got} bytes, the index says ${size}`);

/** decodeChunk into `out` (decompressed in place where the blob is compressed); returns the length, always `size`. */
export function decodeChunkInto(blob: Uint8Array, digest: Uint8Array, out: SharedArrayBuffer, size: number, key?: CryptKey): number {
  if (size > out.byteLength) throw bulwarkError('BULWARK_INTERNAL', `decode target of ${out.byteLength} bytes for a chunk of ${size}`);
  const target = Buffer.from(out, 0, size);
  const output = (n: number): Buffer => {
    if (n !== size) throw sizeMismatch(digest, n, size);
    return target;
  };
  const data = decodeChunk(blob, digest, key ? { key, output } : { output });
  if (data.buffer !== out) {
    if (data.length !== size) throw sizeMismatch(digest, data.length, size);
    target.set(data);
  }
  return size;
}
