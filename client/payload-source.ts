/**
 * Random access to a remote dynamic index (the payload stream of a split
 * archive) for restore: `read(offset, length)` yields the bytes of that
 * range. Decoded chunks are kept in a small cache and the chunks after the
 * one being read are fetched ahead, so a restore that walks the payload in
 * order (the common case) keeps many requests in flight. chunkAt hands out
 * decoded chunks directly (archive/range-content.ts reads file content from
 * them without a generator per file).
 *
 * With a ChunkArena, chunks are decoded into its shared slots, the cache
 * holding one reference to each: a consumer may keep a chunk's bytes past
 * the chunk's eviction only by retaining its slot (write batches do), and
 * must not keep views from read() (that mode is for the restore loop). A
 * chunk reply that arrived in a slot of the same arena (the reader socket
 * reads large messages there) is released once its chunk is decoded.
 */
import type { CryptKey } from '../datastore/crypt-key.ts';
import type { IndexReader } from '../datastore/index-file.ts';
import { bulwarkError } from '../errors.ts';
import type { ChunkedPayload, PayloadChunk } from './archive/range-content.ts';
import type { ArenaSlot, ChunkArena } from './chunk-arena.ts';
import { type ChunkDecoder, inlineDecoder } from './decode-pool.ts';
import type { RpcSession } from './rpc.ts';

export interface RemotePayloadOptions {
  readonly key?: CryptKey;
  /** Where chunks are decoded (default: on this thread, with `key`); a DecodePool must hold the same key. */
  readonly decoder?: ChunkDecoder;
  /** Chunks fetched ahead of the one being read (default 12). */
  readonly readAhead?: number;
  /** Decode into slots of this arena (see above). */
  readonly arena?: ChunkArena;
}

export class RemotePayloadSource implements ChunkedPayload {
  readonly #rpc: RpcSession;
  readonly #index: IndexReader;
  readonly #decoder: ChunkDecoder;
  readonly #ahead: number;
  readonly #arena: ChunkArena | undefined;
  readonly #cache = new Map<number, Promise<Buffer>>();
  /** Arena slots of the cached chunks. */
  readonly #slots = new Map<number, ArenaSlot>();
  /** Chunks of the cache that are decoded already, for chunkAt. */
  readonly #ready = new Map<number, Buffer>();
  /** The chunk chunkAt answered last: files mostly follow each other inside one chunk. */
  #current: PayloadChunk | undefined;

  constructor(rpc: RpcSession, index: IndexReader, opts: RemotePayloadOptions = {}) {
    this.#rpc = rpc;
    this.#index = index;
    this.#decoder = opts.decoder ?? inlineDecoder(opts.key);
    this.#ahead = opts.readAhead ?? 12;
    this.#arena = opts.arena;
  }

  #fetch(i: number): Promise<Buffer> {
    let p = this.#cache.get(i);
    if (!p) {
      const digest = Buffer.from(this.#index.digest(i));
      const reply = this.#rpc.request('chunk', { digest });
      if (this.#arena) {
        const { start, end } = this.#index.chunkRange(i);
        const slot = this.#arena.acquire(end - start);
        this.#slots.set(i, slot);
        p = reply.then((ok) => {
          const blob = ok.data as Buffer;
          const decoded = this.#decoder.decodeInto(blob, digest, slot.sab, end - start);
          // A reply read into a slot of the arena (direct-websocket.ts) is ours alone: free once decoded.
          const received = this.#arena!.slotOf(blob);
          if (received) {
            const free = () => this.#arena!.release(received);
            decoded.then(free, free);
          }
          return decoded;
        });
      } else {
        p = reply.then((ok) => this.#decoder.decode(ok.data as Buffer, digest));
      }
      p.then((data) => this.#cache.has(i) && this.#ready.set(i, data), () => undefined); // failures: awaited by whoever reads it
      this.#cache.set(i, p);
    }
    return p;
  }

  /** Drops chunk k from the cache; its slot is freed once its decode has settled (the worker may still be writing it). */
  #evict(k: number): void {
    const p = this.#cache.get(k)!;
    this.#cache.delete(k);
    this.#ready.delete(k);
    const slot = this.#slots.get(k);
    if (!slot) return;
    this.#slots.delete(k);
    if (this.#current?.data.buffer === slot.sab) this.#current = undefined;
    const free = () => this.#arena!.release(slot);
    p.then(free, free);
  }

  /** Chunk i, with the next ones requested ahead and older ones dropped. */
  #chunk(i: number): Promise<Buffer> {
    const last = Math.min(this.#index.count() - 1, i + this.#ahead);
    for (let j = i; j <= last; j++) this.#fetch(j);
    for (const k of [...this.#cache.keys()]) if (k < i - 1 || k > last) this.#evict(k);
    return this.#fetch(i);
  }

  chunkAt(offset: number): PayloadChunk | Promise<PayloadChunk> {
    const cur = this.#current;
    if (cur && offset >= cur.start && offset < cur.start + cur.data.length) return cur;
    const at = this.#index.chunkFromOffset(offset);
    if (!at) throw bulwarkError('BULWARK_ARCHIVE_CORRUPT', 'payload', `offset ${offset} is outside the payload of ${this.#index.totalSize()} bytes`);
    const { start, end } = this.#index.chunkRange(at.index);
    const pending = this.#chunk(at.index);
    const chunk = (data: Buffer): PayloadChunk => {
      // Offsets are the index's: a chunk of another size would shift every byte after it.
      if (data.length !== end - start) throw bulwarkError('BULWARK_ARCHIVE_CORRUPT', 'payload', `chunk ${at.index} holds ${data.length} bytes, the index says ${end - start}`);
      return (this.#current = { start, data });
    };
    const ready = this.#ready.get(at.index);
    return ready ? chunk(ready) : pending.then(chunk);
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
