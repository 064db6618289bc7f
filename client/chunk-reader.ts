/**
 * Streams the data of an index from a reader session: chunks are requested
 * ahead (a window of requests in flight, so the server's disk and the
 * network stay busy), decoded and checked against their digest (on this
 * thread or by a DecodePool, as they arrive), and yielded strictly in index
 * order. A chunk used twice in a row is fetched once.
 */
import type { CryptKey } from '../datastore/crypt-key.ts';
import type { IndexReader } from '../datastore/index-file.ts';
import { type ChunkDecoder, inlineDecoder } from './decode-pool.ts';
import type { RpcSession } from './rpc.ts';

export interface ChunkReadOptions {
  readonly key?: CryptKey;
  /** Where chunks are decoded (default: on this thread, with `key`); a DecodePool must hold the same key. */
  readonly decoder?: ChunkDecoder;
  /** Requests in flight (default 16, i.e. up to 64 MiB of 4 MiB chunks). */
  readonly window?: number;
  /** Only chunks [first, last) of the index. */
  readonly first?: number;
  readonly last?: number;
}

export async function* readIndexData(rpc: RpcSession, index: IndexReader, opts: ChunkReadOptions = {}): AsyncGenerator<Buffer> {
  const window = opts.window ?? 16;
  const decoder = opts.decoder ?? inlineDecoder(opts.key);
  const first = opts.first ?? 0;
  const last = opts.last ?? index.count();
  const inflight: Promise<Buffer>[] = [];
  let next = first;
  let previous: { hex: string; data: Promise<Buffer> } | undefined;

  const request = (i: number): Promise<Buffer> => {
    const digest = Buffer.from(index.digest(i));
    const hex = digest.toString('hex');
    if (previous?.hex === hex) return previous.data;
    const data = rpc.request('chunk', { digest }).then((ok) => decoder.decode(ok.data as Buffer, digest));
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
