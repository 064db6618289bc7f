/**
 * KnownChunks: the set of digests a session may reference (a backup's
 * uploaded and known chunks, a reader's allowed chunks), with one flag per
 * digest saying whether the chunk is encrypted.
 *
 * Memory. A session may reference millions of chunks. A `Set<string>` of hex
 * or base64 costs ~100 bytes per digest on the V8 heap (string header and
 * body plus hash-table entry), all of it scanned by every major GC. This is an
 * open-addressing table with linear probing in two flat typed arrays: 32 bytes
 * of digest plus 1 state byte per slot, kept between 3/8 and 3/4 full, so 44
 * to 88 bytes per digest (69 MB for 1M digests), off the JS heap and out of
 * the GC's way.
 *
 * Whole digests on purpose. Keying by a prefix would let a client make a
 * victim's digest "known" by uploading an encrypted chunk (not verifiable
 * server-side, so its digest is the client's choice) under a digest sharing
 * that prefix, and then read the victim's chunk back through its own index.
 *
 * Hashing. Digests of encrypted chunks are chosen by the client, so the slot
 * is not taken from the digest bytes directly (a client could send digests
 * that all share their first bytes and make every lookup walk the table):
 * it is a multiply-shift hash of all eight words with random multipliers
 * drawn per table, unknown to clients.
 */
import { randomFillSync } from 'node:crypto';
import { bulwarkError } from '../errors.ts';
import { DIGEST_SIZE } from './formats.ts';

const EMPTY = 0;
const PLAIN = 1;
const ENCRYPTED = 2;
const INITIAL_BITS = 10;

export interface KnownChunk {
  readonly encrypted: boolean;
}

export class KnownChunks {
  #bits = INITIAL_BITS;
  #digests = Buffer.alloc((1 << INITIAL_BITS) * DIGEST_SIZE);
  #states = new Uint8Array(1 << INITIAL_BITS);
  #size = 0;
  /** Odd multipliers of the slot hash, one per 32-bit word of a digest. */
  readonly #mul = randomFillSync(new Uint32Array(8)).map((m) => m | 1);

  get size(): number {
    return this.#size;
  }

  /** Bytes held by the table (for stats). */
  get byteLength(): number {
    return this.#digests.length + this.#states.length;
  }

  has(digest: Uint8Array): boolean {
    return this.#find(checked(digest)) >= 0;
  }

  get(digest: Uint8Array): KnownChunk | undefined {
    const at = this.#find(checked(digest));
    return at < 0 ? undefined : { encrypted: this.#states[at] === ENCRYPTED };
  }

  /** Adds or updates; true when the digest was not in the set. */
  add(digest: Uint8Array, encrypted: boolean): boolean {
    const d = checked(digest);
    const state = encrypted ? ENCRYPTED : PLAIN;
    const at = this.#find(d);
    if (at >= 0) {
      this.#states[at] = state;
      return false;
    }
    if ((this.#size + 1) * 4 > this.#states.length * 3) this.#grow();
    this.#insert(d, state);
    this.#size++;
    return true;
  }

  /** Removes (backward-shift deletion keeps probe chains intact); false when absent. */
  delete(digest: Uint8Array): boolean {
    let hole = this.#find(checked(digest));
    if (hole < 0) return false;
    const mask = this.#states.length - 1;
    this.#states[hole] = EMPTY;
    for (let j = (hole + 1) & mask; this.#states[j] !== EMPTY; j = (j + 1) & mask) {
      const home = this.#slot(this.#digests, j * DIGEST_SIZE);
      // An entry stays when its home lies cyclically in (hole, j]: moving it would put it before its home.
      const stays = hole <= j ? hole < home && home <= j : hole < home || home <= j;
      if (stays) continue;
      this.#digests.copy(this.#digests, hole * DIGEST_SIZE, j * DIGEST_SIZE, (j + 1) * DIGEST_SIZE);
      this.#states[hole] = this.#states[j]!;
      this.#states[j] = EMPTY;
      hole = j;
    }
    this.#size--;
    return true;
  }

  #slot(buf: Buffer, offset: number): number {
    let h = 0;
    for (let w = 0; w < 8; w++) h = (h + Math.imul(buf.readUInt32LE(offset + 4 * w), this.#mul[w]!)) | 0;
    return h >>> (32 - this.#bits);
  }

  #find(d: Buffer): number {
    const mask = this.#states.length - 1;
    for (let i = this.#slot(d, 0); this.#states[i] !== EMPTY; i = (i + 1) & mask) {
      if (d.compare(this.#digests, i * DIGEST_SIZE, (i + 1) * DIGEST_SIZE) === 0) return i;
    }
    return -1;
  }

  #insert(d: Buffer, state: number): void {
    const mask = this.#states.length - 1;
    let i = this.#slot(d, 0);
    while (this.#states[i] !== EMPTY) i = (i + 1) & mask;
    d.copy(this.#digests, i * DIGEST_SIZE);
    this.#states[i] = state;
  }

  #grow(): void {
    const digests = this.#digests;
    const states = this.#states;
    this.#bits++;
    this.#digests = Buffer.alloc((1 << this.#bits) * DIGEST_SIZE);
    this.#states = new Uint8Array(1 << this.#bits);
    for (let i = 0; i < states.length; i++) {
      if (states[i] !== EMPTY) this.#insert(digests.subarray(i * DIGEST_SIZE, (i + 1) * DIGEST_SIZE), states[i]!);
    }
  }
}

function checked(digest: Uint8Array): Buffer {
  if (!(digest instanceof Uint8Array) || digest.length !== DIGEST_SIZE) {
    throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'digest', `must be ${DIGEST_SIZE} bytes`);
  }
  return Buffer.isBuffer(digest) ? digest : Buffer.from(digest.buffer, digest.byteOffset, digest.byteLength);
}

/** Digest `i` of a packed n × 32 byte list. */
export function digestAt(list: Buffer, i: number): Buffer {
  return list.subarray(i * DIGEST_SIZE, (i + 1) * DIGEST_SIZE);
}

/**
 * Runs `fn(0) … fn(count - 1)` with at most `limit` in flight (chunk touches
 * are one syscall each on the thread pool; one at a time would take minutes
 * for a large index). Rejects with the first failure once the rest settled.
 */
export async function forEachLimit(count: number, limit: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { err: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (failure === undefined && next < count) {
      const i = next++;
      try {
        await fn(i);
      } catch (err) {
        failure ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, count) }, worker));
  if (failure !== undefined) throw failure.err;
}
