/**
 * ChunkStore: content-addressed storage of encoded chunk blobs.
 *
 * Dedup. A chunk is named by its digest (digest.ts), so the same data stored
 * by any backup of any group lands on the same name. insertChunk of a digest
 * that already exists writes nothing: it only touches the chunk and reports
 * `existed: true`. An existing chunk is never rewritten, because a reader or
 * a finished index may depend on it at any moment; the one exception is a
 * stored copy that is provably broken (fails its CRC), which is replaced.
 *
 * Touch for GC. GC (after PBS) marks by setting the atime of every chunk an
 * index references, then sweeps chunks whose atime is older than its cutoff.
 * A backup that reuses a chunk must therefore touch it, or a GC that started
 * before the backup's index existed could sweep it. Touch sets atime and
 * mtime explicitly (utimes), so `relatime`/`noatime` mounts cannot swallow it.
 *
 * Atomic insert. Every write goes to a temporary name and is renamed into
 * place (the backend's job, via atomic-write.ts), so a chunk file is either
 * absent or complete; a crash leaves at most a `.tmp` file that listing
 * ignores. Within this process inserts of one digest are serialised, so of
 * concurrent identical uploads exactly one reports `existed: false`. Across
 * processes two writers of one digest write identical bytes (dedup by
 * content), and the last rename wins harmlessly.
 *
 * Durability follows the SyncLevel given at construction (chunk-backend.ts):
 * 'file' fsyncs each new chunk and its dir before insertChunk resolves;
 * 'filesystem' defers that to flush(), which a backup calls before it
 * commits an index; 'none' leaves it to the kernel.
 *
 * Verification. Unencrypted uploads are decoded and their SHA-256 compared
 * with the digest before anything is stored, so a buggy or hostile client
 * cannot store data under a wrong name. Encrypted ones cannot be checked
 * without the key; their CRC is checked so transport damage is caught.
 */
import { bulwarkError, isBulwarkError } from '../errors.ts';
import { blobKind, decodeChunk, isEncryptedKind, kindOfMagic, MAX_ENCODED_CHUNK_SIZE, verifyBlobCrc, type BlobKind } from './blob.ts';
import type { ChunkBackend, ChunkEntry, BadChunkEntry, ChunkId, ChunkStat, SyncLevel } from './chunk-backend.ts';
import type { CryptKey } from './crypt-key.ts';
import { parseDigestHex, toDigestHex } from './digest.ts';
import { MAX_CHUNK_SIZE } from './formats.ts';
import { createChunkDir, FsChunkBackend, hasChunkDir } from './fs-chunk-backend.ts';

/** Raw 32 bytes or 64 lowercase hex. */
export type Digest = Uint8Array | string;

export interface ChunkStoreOptions {
  /** Default 'filesystem', as in PBS. */
  readonly sync?: SyncLevel;
}

export interface FsChunkStoreOptions extends ChunkStoreOptions {
  /** Clock for touch and new-chunk atimes (default Date.now). */
  readonly now?: () => number;
}

export interface InsertOptions {
  /** Decode and check the digest of unencrypted chunks (default true). Encrypted chunks get a CRC check only. */
  readonly verify?: boolean;
  /** The raw size the client declared; checked against the decoded data when verifying. */
  readonly rawSize?: number;
}

export interface InsertResult {
  readonly existed: boolean;
  /** Encoded size now on disk. */
  readonly size: number;
}

const describeCrypt = (k: BlobKind) => (isEncryptedKind(k) ? 'encrypted' : 'unencrypted');

export class ChunkStore {
  readonly backend: ChunkBackend;
  readonly sync: SyncLevel;
  /** Per-digest tail of the queue of operations that change the chunk. */
  readonly #queues = new Map<ChunkId, Promise<void>>();

  constructor(backend: ChunkBackend, opts: ChunkStoreOptions = {}) {
    this.backend = backend;
    this.sync = opts.sync ?? 'filesystem';
  }

  /** Makes `<path>/.chunks` with its 65536 prefix dirs, then opens it. */
  static async create(path: string, opts: FsChunkStoreOptions = {}): Promise<ChunkStore> {
    createChunkDir(path);
    return ChunkStore.open(path, opts);
  }

  /** Opens an existing store; BULWARK_NOT_FOUND without `.chunks`. */
  static open(path: string, opts: FsChunkStoreOptions = {}): ChunkStore {
    if (!hasChunkDir(path)) throw bulwarkError('BULWARK_NOT_FOUND', `chunk directory of ${path}`);
    return new ChunkStore(new FsChunkBackend(path, { now: opts.now }), opts);
  }

  async insertChunk(digest: Digest, blob: Uint8Array, opts: InsertOptions = {}): Promise<InsertResult> {
    const id = toDigestHex(digest);
    const what = `chunk ${id}`;
    const size = blob.length;
    // Refused before any work: no valid chunk encodes to more than 16 MiB + header.
    if (size > MAX_ENCODED_CHUNK_SIZE) throw bulwarkError('BULWARK_CHUNK_TOO_LARGE', size, MAX_ENCODED_CHUNK_SIZE);
    if (opts.rawSize !== undefined && opts.rawSize > MAX_CHUNK_SIZE) throw bulwarkError('BULWARK_CHUNK_TOO_LARGE', opts.rawSize, MAX_CHUNK_SIZE);
    const kind = blobKind(blob, what);

    // CPU work first, outside the per-digest queue, so identical uploads verify in parallel.
    const verified = !isEncryptedKind(kind) && (opts.verify ?? true);
    if (verified) {
      const data = decodeChunk(blob, parseDigestHex(id));
      if (opts.rawSize !== undefined && data.length !== opts.rawSize) {
        throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'rawSize', `${what} decodes to ${data.length} bytes, not ${opts.rawSize}`);
      }
    } else {
      verifyBlobCrc(blob, what);
    }

    return this.#serialised(id, async () => {
      const old = await this.backend.stat(id);
      if (old && old.size === size) {
        const head = await this.backend.readHead(id, 8);
        const oldKind = head && kindOfMagic(head);
        if (oldKind !== undefined) {
          // Refused: one digest cannot name both an encrypted and an
          // unencrypted chunk except by a SHA-256 collision or a client
          // planting an (unverifiable) encrypted blob under the digest of
          // known plain data. Touching would hand the other kind's owner
          // bytes it cannot read; overwriting would destroy the first owner's.
          if (isEncryptedKind(oldKind) !== isEncryptedKind(kind)) {
            if (!plantedUnder(oldKind, verified)) {
              throw bulwarkError('BULWARK_CHUNK_CRYPT_MISMATCH', id, `as ${describeCrypt(oldKind)}`, describeCrypt(kind));
            }
          } else if (await this.backend.touch(id)) {
            return { existed: true, size };
          }
        }
        // Unreadable magic: the stored copy is broken, replace it below (or it vanished under GC).
      } else if (old) {
        const stored = await this.backend.get(id);
        const storedKind = stored && intactKind(stored, what);
        if (stored && storedKind !== undefined) {
          if (isEncryptedKind(storedKind) !== isEncryptedKind(kind)) {
            // Refused for the same reason as the same-size case above.
            if (!plantedUnder(storedKind, verified)) {
              throw bulwarkError('BULWARK_CHUNK_CRYPT_MISMATCH', id, `as ${describeCrypt(storedKind)}`, describeCrypt(kind));
            }
          } else if (!isEncryptedKind(storedKind) && decodesTo(stored, id)) {
            // Same data, other encoding (one client compressed it, another
            // did not): the intact stored copy is kept and touched, as a
            // same-size duplicate would be; indexes pointing at it stay valid.
            if (await this.backend.touch(id)) return { existed: true, size: stored.length };
          } else {
            // Refused: an intact chunk is never rewritten, and an encrypted
            // upload cannot be verified here, so replacing would let any
            // client swap good data for garbage.
            throw bulwarkError('BULWARK_CHUNK_SIZE_MISMATCH', id, stored.length, size);
          }
        }
        // The stored copy fails its CRC (or is gone): replacing it repairs the store.
      }
      await this.backend.put(id, blob, { sync: this.sync });
      return { existed: false, size };
    });
  }

  /** The encoded blob; BULWARK_NOT_FOUND when absent. `into`: see ChunkBackend.get. */
  async readChunk(digest: Digest, into?: (size: number) => Buffer): Promise<Buffer> {
    const id = toDigestHex(digest);
    const blob = await this.backend.get(id, into);
    if (!blob) throw bulwarkError('BULWARK_NOT_FOUND', `chunk ${id}`);
    return blob;
  }

  /** The decoded data, checked against its digest (the key is needed for encrypted chunks). */
  async loadChunk(digest: Digest, key?: CryptKey): Promise<Buffer> {
    const id = toDigestHex(digest);
    return decodeChunk(await this.readChunk(id), parseDigestHex(id), { key });
  }

  exists(digest: Digest): Promise<boolean> {
    return this.backend.has(toDigestHex(digest));
  }

  stat(digest: Digest): Promise<ChunkStat | undefined> {
    return this.backend.stat(toDigestHex(digest));
  }

  /** Marks a chunk in use for GC; false when it does not exist. */
  touch(digest: Digest): Promise<boolean> {
    return this.backend.touch(toDigestHex(digest));
  }

  /** Every chunk with its encoded size and atime (bounded memory). */
  iterate(): AsyncIterable<ChunkEntry> {
    return this.backend.list();
  }

  iterateBad(): AsyncIterable<BadChunkEntry> {
    return this.backend.listBad();
  }

  /** false when already absent. */
  remove(digest: Digest): Promise<boolean> {
    const id = toDigestHex(digest);
    return this.#serialised(id, () => this.backend.remove(id));
  }

  removeBad(name: string): Promise<boolean> {
    return this.backend.removeBad(name);
  }

  /** Moves a corrupt chunk aside as `<digest>.<n>.bad`; returns that name. */
  markBad(digest: Digest): Promise<string> {
    const id = toDigestHex(digest);
    return this.#serialised(id, () => this.backend.markBad(id));
  }

  /** Makes every insert since the last flush durable (SyncLevel 'filesystem'). */
  flush(): Promise<void> {
    return this.backend.flush();
  }

  async #serialised<T>(id: ChunkId, fn: () => Promise<T>): Promise<T> {
    const before = this.#queues.get(id) ?? Promise.resolve();
    let done!: () => void;
    const mine = new Promise<void>((resolve) => (done = resolve));
    const tail = before.then(() => mine);
    this.#queues.set(id, tail);
    await before;
    try {
      return await fn();
    } finally {
      done();
      if (this.#queues.get(id) === tail) this.#queues.delete(id);
    }
  }
}

/**
 * An encrypted blob stored under a digest that a verified plain upload now
 * proves to be SHA-256 of plain data can only have been planted (encrypted
 * digests are keyed, so an honest one never equals a plain one). The
 * verified copy replaces it; otherwise such a plant would block every honest
 * backup of that data.
 */
function plantedUnder(storedKind: BlobKind, newIsVerifiedPlain: boolean): boolean {
  return isEncryptedKind(storedKind) && newIsVerifiedPlain;
}

/** True when an unencrypted stored blob decodes to data with this digest. */
function decodesTo(blob: Buffer, id: ChunkId): boolean {
  try {
    decodeChunk(blob, parseDigestHex(id));
    return true;
  } catch (err) {
    if (isBulwarkError(err)) return false;
    throw err;
  }
}

/** The stored blob's kind if it passes its CRC; undefined when it is corrupt. */
function intactKind(blob: Buffer, what: string): BlobKind | undefined {
  try {
    return verifyBlobCrc(blob, what);
  } catch (err) {
    if (isBulwarkError(err)) return undefined;
    throw err;
  }
}
