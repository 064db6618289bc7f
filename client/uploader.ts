/**
 * Uploads one index (fixed or dynamic) over a backup session: each chunk is
 * digested; chunks the server already knows for this session (from the
 * previous snapshot or a resumed one) or sent earlier in this session are
 * only appended, the rest are encoded (lz4, optionally AES-256-GCM) and
 * uploaded. Uploads are pipelined; an append batch waits only for its own
 * chunks. The index checksum is computed locally and checked by the server.
 */
import { createHash } from 'node:crypto';
import { encodeBlob } from '../datastore/blob.ts';
import type { CryptKey } from '../datastore/crypt-key.ts';
import { chunkDigest } from '../datastore/digest.ts';
import { bulwarkError } from '../errors.ts';
import type { EncodePool } from './encode-pool.ts';
import type { RpcSession } from './rpc.ts';

export interface UploadStats {
  chunks: number;
  size: number;
  uploadedChunks: number;
  uploadedBytes: number;
  reusedChunks: number;
}

export interface UploadIndexOptions {
  readonly rpc: RpcSession;
  readonly kind: 'dynamic' | 'fixed';
  readonly name: string;
  /** Digests (hex) the server knows for this session; grows as chunks are sent. */
  readonly known: Set<string>;
  readonly key?: CryptKey;
  readonly compress?: boolean;
  /** Fixed indexes: total size and chunk size. */
  readonly size?: number;
  readonly chunkSize?: number;
  readonly onProgress?: (stats: UploadStats) => void;
  /** Worker threads for digest + encode; without one, the main thread does it. */
  readonly pool?: EncodePool;
}

/** Chunks being digested/encoded ahead of the one being sent. */
const ENCODE_AHEAD = 4;

interface Prepared {
  readonly digest: Buffer;
  readonly size: number;
  /** Undefined for chunks referenced by digest only. */
  readonly blob?: Buffer;
}

const APPEND_BATCH = 256;

/** Marks a promise as handled now (it is awaited later), so an early rejection is not "unhandled". */
function later<T>(p: Promise<T>): Promise<T> {
  p.catch(() => undefined);
  return p;
}

export interface UploadResult extends UploadStats {
  readonly csum: Buffer;
}

/** A chunk to upload, or one the server already has (from the previous snapshot), given by digest and size. */
export type UploadItem = Buffer | { readonly digest: Buffer; readonly size: number };

export async function uploadIndex(chunks: AsyncIterable<UploadItem>, opts: UploadIndexOptions): Promise<UploadResult> {
  const { rpc, known } = opts;
  const created = await rpc.request('create-index', {
    kind: opts.kind,
    name: opts.name,
    ...(opts.kind === 'fixed' && { size: opts.size, 'chunk-size': opts.chunkSize }),
  });
  const wid = created.wid as number;
  const csum = createHash('sha256');
  const stats: UploadStats = { chunks: 0, size: 0, uploadedChunks: 0, uploadedBytes: 0, reusedChunks: 0 };

  let batchDigests: Buffer[] = [];
  let batchOffsets: number[] = [];
  let batchUploads: Promise<unknown>[] = [];
  const appends: Promise<unknown>[] = [];

  const flush = () => {
    if (batchDigests.length === 0) return;
    const digests = Buffer.concat(batchDigests);
    const offsets = batchOffsets;
    const uploads = batchUploads;
    batchDigests = [];
    batchOffsets = [];
    batchUploads = [];
    appends.push(later(Promise.all(uploads).then(() => rpc.request('append', { wid, digests, offsets }))));
  };

  const prepare = async (item: UploadItem): Promise<Prepared> => {
    if (!Buffer.isBuffer(item)) return { digest: item.digest, size: item.size };
    const compress = opts.compress ?? true;
    const size = item.length; // read first: the pool takes the buffer over
    if (opts.pool) return { ...(await opts.pool.encode(item, compress)), size };
    const digest = chunkDigest(item, opts.key);
    // Skip encoding what will not be sent.
    if (known.has(digest.toString('hex'))) return { digest, size: item.length };
    return { digest, size: item.length, blob: encodeBlob(item, { compress, ...(opts.key && { key: opts.key }) }) };
  };

  const handle = async ({ digest, size, blob }: Prepared) => {
    const hex = digest.toString('hex');
    const position = stats.chunks;
    stats.chunks++;
    stats.size += size;
    if (opts.kind === 'dynamic') {
      const end = Buffer.alloc(8);
      end.writeBigUInt64LE(BigInt(stats.size));
      csum.update(end);
    }
    csum.update(digest);

    if (known.has(hex)) {
      stats.reusedChunks++;
    } else if (!blob) {
      throw bulwarkError('BULWARK_UNKNOWN_CHUNK', hex);
    } else {
      known.add(hex);
      await rpc.waitForCredit(blob.length);
      stats.uploadedChunks++;
      stats.uploadedBytes += blob.length;
      batchUploads.push(later(rpc.request('chunk', { wid, digest, size, data: blob })));
    }
    batchDigests.push(digest);
    batchOffsets.push(opts.kind === 'dynamic' ? stats.size : position);
    if (batchDigests.length >= APPEND_BATCH) flush();
    opts.onProgress?.(stats);
  };

  // Chunks are prepared (digest, encode) a few ahead and handled strictly in order.
  const ahead: Promise<Prepared>[] = [];
  for await (const item of chunks) {
    ahead.push(later(prepare(item)));
    if (ahead.length >= ENCODE_AHEAD) await handle(await ahead.shift()!);
  }
  while (ahead.length > 0) await handle(await ahead.shift()!);
  flush();
  await Promise.all(appends);
  const digestSum = csum.digest();
  await rpc.request('close-index', { wid, count: stats.chunks, size: stats.size, csum: digestSum });
  return { ...stats, csum: digestSum };
}
