/**
 * Streams the data of an index from a reader session: chunks are requested
 * ahead (a window of requests in flight, so the server's disk and the
 * network stay busy), decoded and checked against their digest, and yielded
 * strictly in index order. A chunk used twice in a row is fetched once.
 */
import { decodeChunk } from '../datastore/blob.ts';
import type { CryptKey } from '../datastore/crypt-key.ts';
import type { IndexReader } from '../datastore/index-file.ts';
import type { RpcSession } from './rpc.ts';

export interface ChunkReadOptions {
  readonly key?: CryptKey;
  /** Requests in flight (default 16, i.e. up to 64 MiB of 4 MiB chunks). */
  readonly window?: number;
  /** Only chunks [first, last) of the index. */
  readonly first?: number;
  readonly last?: number;
}

export async function* readIndexData(rpc: RpcSession, index: IndexReader, opts: ChunkReadOptions = {}): AsyncGenerator<Buffer> {
  const window = opts.window ?? 16;
  const first = opts.first ?? 0;
  const last = opts.last ?? index.count();
  const inflight: Promise<Buffer>[] = [];
  let next = first;
  let previous: { hex: string; data: Promise<Buffer> } | undefined;

  const request = (i: number): Promise<Buffer> => {
    const digest = Buffer.from(index.digest(i));
    const hex = digest.toString('hex');
    if (previous?.hex === hex) return previous.data;
    const data = rpc.request('chunk', { digest }).then((ok) => decodeChunk(ok.data as Buffer, digest, opts.key ? { key: opts.key } : {}));
    data.catch(() => undefined); // awaited in order below
    previous = { hex, data };
    return data;
  };

  while (next < last && inflight.length < window) inflight.push(request(next++));
  while (inflight.length > 0) {
    const data = await inflight.shift()!;
    if (next < last) inflight.push(request(next++));
    yield data;
  }
}
