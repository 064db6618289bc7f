/**
 * The storage seam under ChunkStore: where encoded chunk blobs live.
 * Implementations: fs-chunk-backend.ts (PBS's `.chunks` layout) and
 * mem-chunk-backend.ts (tests); one conformance suite
 * (test/datastore/backend-suite.ts) holds them to the same contract.
 *
 * A backend stores bytes under a name. It knows nothing about blob formats,
 * digests-as-hashes or dedup policy: ChunkStore decides what to write, the
 * backend only makes each write atomic.
 *
 * Chunk ids are 64 lowercase hex characters (the digest as on disk), so ids
 * can be map keys and file names without conversion. ChunkStore validates
 * ids once; backends may assume valid ids but must never let one escape their
 * root.
 */

export type ChunkId = string;

/**
 * PBS's DatastoreFSyncLevel names.
 * - 'none': rely on the kernel's writeback; a crash may lose recent chunks.
 * - 'filesystem': no per-chunk fsync; flush() makes everything written since
 *   the last flush durable (callers flush before they commit an index).
 * - 'file': every put fsyncs its file and directory before returning.
 */
export type SyncLevel = 'none' | 'filesystem' | 'file';

export interface ChunkStat {
  /** Encoded size in bytes. */
  readonly size: number;
  /** Last touch or write, ms since the epoch: what GC compares with its cutoff. */
  readonly atimeMs: number;
}

export interface ChunkEntry extends ChunkStat {
  readonly digest: ChunkId;
}

export interface BadChunkEntry extends ChunkStat {
  readonly digest: ChunkId;
  /** File name, `<digest>.<n>.bad`. */
  readonly name: string;
  readonly n: number;
}

export interface PutOptions {
  readonly sync: SyncLevel;
}

export interface ChunkBackend {
  has(id: ChunkId): Promise<boolean>;
  /** undefined when absent. */
  stat(id: ChunkId): Promise<ChunkStat | undefined>;
  /**
   * The whole blob, or undefined when absent. With `into`, the blob may be
   * read into the buffer it returns for the blob's size (exactly that long),
   * so a caller can reuse its buffers.
   */
  get(id: ChunkId, into?: (size: number) => Buffer): Promise<Buffer | undefined>;
  /** The first `length` bytes (fewer if the blob is shorter), or undefined. */
  readHead(id: ChunkId, length: number): Promise<Buffer | undefined>;
  /**
   * Stores `blob` under `id`, replacing any previous blob atomically: a
   * reader sees the old bytes or the new ones, never a mix, and a crash
   * leaves no partial chunk under the final name. Sets atime to now.
   */
  put(id: ChunkId, blob: Uint8Array, opts: PutOptions): Promise<void>;
  /** Sets atime (and mtime) to now; false when the chunk is absent. */
  touch(id: ChunkId): Promise<boolean>;
  /**
   * Every chunk present for the whole iteration, exactly once, in no
   * particular order; chunks added or removed meanwhile may or may not
   * appear. Memory stays bounded whatever the store size. Skips temporary
   * and `.bad` files.
   */
  list(): AsyncIterable<ChunkEntry>;
  /** false when already absent. */
  remove(id: ChunkId): Promise<boolean>;
  /**
   * Moves the chunk aside as `<id>.<n>.bad` with the lowest free n and
   * returns that name; BULWARK_NOT_FOUND when absent. The bad copy is kept
   * for inspection; GC removes it once a good copy exists again.
   */
  markBad(id: ChunkId): Promise<string>;
  listBad(): AsyncIterable<BadChunkEntry>;
  /** Removes a `.bad` file by the name markBad returned; false when absent. */
  removeBad(name: string): Promise<boolean>;
  /** Makes every put since the last flush durable (see SyncLevel 'filesystem'). */
  flush(): Promise<void>;
}

/** `<64 hex>.<n>.bad` → its parts, or undefined for any other name. */
export function parseBadName(name: string): { digest: ChunkId; n: number } | undefined {
  const m = /^([0-9a-f]{64})\.(\d{1,9})\.bad$/.exec(name);
  return m ? { digest: m[1]!, n: Number(m[2]) } : undefined;
}

export function badName(id: ChunkId, n: number): string {
  return `${id}.${n}.bad`;
}
