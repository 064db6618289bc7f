/**
 * Buzhash: the rolling hash behind the dynamic chunker (after PBS
 * pbs-datastore/src/chunker.rs and casync).
 *
 * The hash of a 64-byte window w[0..63] (w[63] the newest byte) is
 *
 *     h = XOR over i of rotl32(TABLE[w[i]], 63 - i)
 *
 * Rolling one byte: h' = rotl32(h, 1) ^ TABLE[leaving] ^ TABLE[entering].
 * rotl32 by 64 is rotl32 by 0, so the leaving byte's term (aged 64 steps) is
 * removed by a plain XOR. Consequence the chunker relies on: the hash at a
 * position depends on the last 64 bytes only, so it can skip bytes that can
 * never end a chunk and start hashing 64 bytes before the first candidate.
 *
 * TABLE: 256 u32 from mulberry32 seeded with 0x42554c57 ("BULW"), one
 * output per entry in order. mulberry32 step, all arithmetic mod 2^32:
 *     s += 0x6d2b79f5; t = s;
 *     t = imul(t ^ (t >>> 15), t | 1);
 *     t ^= t + imul(t ^ (t >>> 7), t | 61);
 *     out = t ^ (t >>> 14)
 * NEVER CHANGE the seed or the generator: chunk boundaries, and with them
 * deduplication against every existing backup, depend on this table.
 */

export const BUZHASH_WINDOW = 64;
export const BUZHASH_SEED = 0x42554c57;

function makeTable(seed: number): Uint32Array {
  const table = new Uint32Array(256);
  let s = seed | 0;
  for (let i = 0; i < 256; i++) {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    table[i] = (t ^ (t >>> 14)) >>> 0;
  }
  return table;
}

export const BUZHASH_TABLE: Uint32Array = makeTable(BUZHASH_SEED);

/**
 * Reference rolling hash over a 64-byte window. The chunker inlines the same
 * arithmetic in its hot loop; this class is the readable version, used by
 * tests to check the chunker's cuts.
 */
export class Buzhash {
  private readonly window = new Uint8Array(BUZHASH_WINDOW);
  private filled = 0;
  private idx = 0;
  private h = 0;

  /** Hash of the bytes seen so far (meaningful once 64 bytes are in). */
  get value(): number {
    return this.h >>> 0;
  }

  get full(): boolean {
    return this.filled === BUZHASH_WINDOW;
  }

  reset(): void {
    this.filled = 0;
    this.idx = 0;
    this.h = 0;
  }

  /** Feeds one byte: fills the window first, then rolls it. */
  push(byte: number): number {
    const t = BUZHASH_TABLE;
    if (this.filled < BUZHASH_WINDOW) {
      this.h = ((this.h << 1) | (this.h >>> 31)) ^ t[byte]!;
      this.window[this.filled++] = byte;
    } else {
      const leave = this.window[this.idx]!;
      this.h = ((this.h << 1) | (this.h >>> 31)) ^ t[leave]! ^ t[byte]!;
      this.window[this.idx] = byte;
      this.idx = (this.idx + 1) & (BUZHASH_WINDOW - 1);
    }
    return this.h >>> 0;
  }

  /** Hash of exactly 64 bytes (data.length must be 64). */
  static of(data: Uint8Array): number {
    const b = new Buzhash();
    for (const byte of data) b.push(byte);
    return b.value;
  }
}
