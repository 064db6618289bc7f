/**
 * Fixed-size chunking for images (fixed index): every chunk is exactly
 * chunkSize bytes (4 MiB by default, a power of two as the .fidx header
 * requires), the last one shorter. A chunk inside one input buffer is yielded
 * as a view of it (no copy); the source must not reuse its buffers.
 */
import { MAX_CHUNK_SIZE } from '../../datastore/formats.ts';
import { bulwarkError } from '../../errors.ts';

export const DEFAULT_FIXED_CHUNK_SIZE = 4 * 1024 * 1024;

export async function* fixedChunks(source: AsyncIterable<Uint8Array>, chunkSize = DEFAULT_FIXED_CHUNK_SIZE): AsyncGenerator<Buffer> {
  if (!Number.isInteger(chunkSize) || chunkSize < 1 || (chunkSize & (chunkSize - 1)) !== 0 || chunkSize > MAX_CHUNK_SIZE) {
    throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'fixed chunk size', `${chunkSize} (a power of two up to ${MAX_CHUNK_SIZE})`);
  }
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  for await (const raw of source) {
    let buf = Buffer.isBuffer(raw) ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
    while (buf.length > 0) {
      const need = chunkSize - pendingBytes;
      if (buf.length < need) {
        pending.push(buf);
        pendingBytes += buf.length;
        break;
      }
      const piece = buf.subarray(0, need);
      buf = buf.subarray(need);
      if (pending.length === 0) {
        yield piece;
      } else {
        pending.push(piece);
        yield Buffer.concat(pending, chunkSize);
        pending = [];
        pendingBytes = 0;
      }
    }
  }
  if (pendingBytes > 0) yield pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
}
