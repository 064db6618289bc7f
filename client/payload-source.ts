/**
 * Random access to a remote dynamic index (the payload stream of a split
 * archive) for restore: `read(offset, length)` yields the bytes of that
 * range. Decoded chunks are kept in a small cache and the chunks after the
 * one being read are fetched ahead, so a restore that walks the payload in
 * order (the common case) keeps many requests in flight.
 */
import { decodeChunk } from '../datastore/blob.ts';
import type { CryptKey } from '../datastore/crypt-key.ts';
import type { IndexReader } from '../datastore/index-file.ts';
import { bulwarkError } from '../errors.ts';
import type { PayloadSource } from './archive/payload.ts';
import type { RpcSession } from './rpc.ts';

export interface RemotePayloadOptions {
  readonly key?: CryptKey;
  /** Chunks fetched ahead of the one being read (default 12). */
  readonly readAhead?: number;
}

export class RemotePayloadSource implements PayloadSource {
  readonly #rpc: RpcSession;
  readonly #index: IndexReader;
  readonly #key: CryptKey | undefined;
  readonly #ahead: number;
  readonly #cache = new Map<number, Promise<Buffer>>();

  constructor(rpc: RpcSession, index: IndexReader, opts: RemotePayloadOptions = {}) {
    this.#rpc = rpc;
    this.#index = index;
    this.#key = opts.key;
    this.#ahead = opts.readAhead ?? 12;
  }

  #fetch(i: number): Promise<Buffer> {
    let p = this.#cache.get(i);
    if (!p) {
      const digest = Buffer.from(this.#index.digest(i));
      p = this.#rpc.request('chunk', { digest }).then((ok) => decodeChunk(ok.data as Buffer, digest, this.#key ? { key: this.#key } : {}));
      p.catch(() => undefined); // awaited by whoever reads it
      this.#cache.set(i, p);
    }
    return p;
  }

  /** Chunk i, with the next ones requested ahead and older ones dropped. */
  #chunk(i: number): Promise<Buffer> {
    const last = Math.min(this.#index.count() - 1, i + this.#ahead);
    for (let j = i; j <= last; j++) this.#fetch(j);
    for (const k of this.#cache.keys()) if (k < i - 1 || k > last) this.#cache.delete(k);
    return this.#fetch(i);
  }

  async *read(offset: number, length: number): AsyncIterable<Buffer> {
    if (length === 0) return;
    if (offset < 0 || offset + length > this.#index.totalSize()) {
      throw bulwarkError('BULWARK_ARCHIVE_CORRUPT', 'payload', `range ${offset}+${length} is outside the payload of ${this.#index.totalSize()} bytes`);
    }
    const at = this.#index.chunkFromOffset(offset)!;
    let i = at.index;
    let skip = at.offsetInChunk;
    let left = length;
    while (left > 0) {
      const data = await this.#chunk(i);
      const piece = data.subarray(skip, Math.min(data.length, skip + left));
      left -= piece.length;
      skip = 0;
      i++;
      yield piece;
    }
  }
}
