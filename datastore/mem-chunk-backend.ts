/**
 * In-memory ChunkBackend for tests: the same contract as the filesystem one
 * (checked by the shared conformance suite), with an injected clock so GC
 * and touch tests need no waiting. Blobs are copied in and out, so callers
 * can no more alias stored bytes than they could a file.
 */
import { bulwarkError } from '../errors.ts';
import { badName, parseBadName, type BadChunkEntry, type ChunkBackend, type ChunkEntry, type ChunkId, type ChunkStat, type PutOptions } from './chunk-backend.ts';

interface Stored {
  blob: Buffer;
  atimeMs: number;
}

export class MemChunkBackend {
  readonly #chunks = new Map<ChunkId, Stored>();
  readonly #bad = new Map<string, Stored>();
  readonly #now: () => number;

  constructor(opts: { now?: () => number } = {}) {
    this.#now = opts.now ?? Date.now;
  }

  async has(id: ChunkId): Promise<boolean> {
    return this.#chunks.has(id);
  }

  async stat(id: ChunkId): Promise<ChunkStat | undefined> {
    const s = this.#chunks.get(id);
    return s && { size: s.blob.length, atimeMs: s.atimeMs };
  }

  async get(id: ChunkId): Promise<Buffer | undefined> {
    const s = this.#chunks.get(id);
    return s && Buffer.from(s.blob);
  }

  async readHead(id: ChunkId, length: number): Promise<Buffer | undefined> {
    const s = this.#chunks.get(id);
    return s && Buffer.from(s.blob.subarray(0, length));
  }

  async put(id: ChunkId, blob: Uint8Array, _opts: PutOptions): Promise<void> {
    this.#chunks.set(id, { blob: Buffer.from(blob), atimeMs: this.#now() });
  }

  async touch(id: ChunkId): Promise<boolean> {
    const s = this.#chunks.get(id);
    if (s) s.atimeMs = this.#now();
    return s !== undefined;
  }

  async *list(): AsyncIterable<ChunkEntry> {
    // Iterate a snapshot of the keys so removals during iteration are safe.
    for (const digest of [...this.#chunks.keys()]) {
      const s = this.#chunks.get(digest);
      if (s) yield { digest, size: s.blob.length, atimeMs: s.atimeMs };
    }
  }

  async remove(id: ChunkId): Promise<boolean> {
    return this.#chunks.delete(id);
  }

  async markBad(id: ChunkId): Promise<string> {
    const s = this.#chunks.get(id);
    if (!s) throw bulwarkError('BULWARK_NOT_FOUND', `chunk ${id}`);
    let n = 0;
    while (this.#bad.has(badName(id, n))) n++;
    const name = badName(id, n);
    this.#bad.set(name, s);
    this.#chunks.delete(id);
    return name;
  }

  async *listBad(): AsyncIterable<BadChunkEntry> {
    for (const name of [...this.#bad.keys()]) {
      const s = this.#bad.get(name);
      const parsed = parseBadName(name);
      if (s && parsed) yield { ...parsed, name, size: s.blob.length, atimeMs: s.atimeMs };
    }
  }

  async removeBad(name: string): Promise<boolean> {
    return this.#bad.delete(name);
  }

  async flush(): Promise<void> {
    // Nothing to make durable.
  }
}

// Checked here rather than with `implements` so the class stays a plain value.
void (MemChunkBackend.prototype satisfies ChunkBackend);
