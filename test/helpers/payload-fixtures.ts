/**
 * Fixtures for split-archive tests: a payload stream "uploaded" in memory.
 * `memoryIndex` cuts a payload at fixed boundaries into a tiny in-memory
 * IndexReader (digest = SHA-256 of the chunk's bytes, so a test can map a
 * reused chunk back to its bytes); `collectPayload` consumes a
 * PayloadWriter's items the way an uploader would, and assembles the bytes
 * of the new payload from the data and the reused chunks.
 */
import { createHash } from 'node:crypto';
import type { IndexReader } from '../../datastore/index-file.ts';
import type { PayloadItem, PayloadWriter } from '../../client/archive/payload.ts';

export const FAKE_CHUNK_SIZE = 64 * 1024;

export interface MemoryIndex {
  index: IndexReader;
  /** Chunk bytes by digest (hex). */
  chunks: Map<string, Buffer>;
}

/** An IndexReader over `payload` cut every `chunkSize` bytes (the last chunk shorter). */
export function memoryIndex(payload: Buffer, chunkSize = FAKE_CHUNK_SIZE): MemoryIndex {
  const ends: number[] = [];
  const digests: Buffer[] = [];
  const chunks = new Map<string, Buffer>();
  for (let at = 0; at < payload.length; at += chunkSize) {
    const bytes = payload.subarray(at, Math.min(at + chunkSize, payload.length));
    const digest = createHash('sha256').update(bytes).digest();
    ends.push(at + bytes.length);
    digests.push(digest);
    chunks.set(digest.toString('hex'), bytes);
  }
  const check = (i: number) => {
    if (!Number.isInteger(i) || i < 0 || i >= ends.length) throw new RangeError(`chunk ${i} of ${ends.length}`);
  };
  const index: IndexReader = {
    kind: 'dynamic',
    uuid: Buffer.alloc(16),
    ctime: 0,
    indexCsum: Buffer.alloc(32),
    count: () => ends.length,
    digest: (i) => (check(i), digests[i]!),
    chunkRange: (i) => (check(i), { start: i === 0 ? 0 : ends[i - 1]!, end: ends[i]! }),
    totalSize: () => payload.length,
    chunkFromOffset: (offset) => {
      if (!Number.isInteger(offset) || offset < 0 || offset >= payload.length) return undefined;
      const i = Math.floor(offset / chunkSize);
      return { index: i, offsetInChunk: offset - i * chunkSize };
    },
    digests: () => digests,
    computeCsum: () => Buffer.alloc(32),
  };
  return { index, chunks };
}

export interface CollectedPayload {
  /** The new payload stream's bytes. */
  bytes: Buffer;
  items: PayloadItem[];
  dataBytes: number;
  chunkBytes: number;
}

/** Reads every item of `writer` (start it before encoding: writes wait for it), resolving reused chunks through `previous`. */
export async function collectPayload(writer: PayloadWriter, previous?: MemoryIndex): Promise<CollectedPayload> {
  const parts: Buffer[] = [];
  const items: PayloadItem[] = [];
  let dataBytes = 0;
  let chunkBytes = 0;
  for await (const item of writer.items()) {
    items.push(item);
    if (item.kind === 'data') {
      parts.push(item.data);
      dataBytes += item.data.length;
      continue;
    }
    for (const c of item.chunks) {
      const bytes = previous?.chunks.get(c.digest.toString('hex'));
      if (!bytes || bytes.length !== c.size) throw new Error(`unknown reused chunk ${c.digest.toString('hex')}`);
      parts.push(bytes);
      chunkBytes += c.size;
    }
  }
  return { bytes: Buffer.concat(parts), items, dataBytes, chunkBytes };
}
