/**
 * Blob codec: the on-disk form of every chunk and of small files
 * (manifest, catalogs, client log).
 *
 *   plain, lz4:                MAGIC(8) ‖ CRC32(4) ‖ payload                 header 12
 *   encrypted, encrypted-lz4:  MAGIC(8) ‖ CRC32(4) ‖ IV(16) ‖ TAG(16) ‖ payload   header 44
 *
 * - CRC32 (little endian) covers everything after the 12-byte magic+crc
 *   header, IV and TAG included, so the server can check an encrypted chunk
 *   without the key.
 * - lz4 payload = RAW_LEN(u32 LE) ‖ lz4 block. The block format carries no
 *   length, and knowing it lets decode allocate exactly once and refuse an
 *   oversized chunk before inflating it.
 * - Encrypted payload = AES-256-GCM(key, IV) over the plain or lz4 payload
 *   (compress, then encrypt), no AAD; TAG is the 16-byte GCM tag.
 * - Compression is kept only when the lz4 payload is smaller than the data;
 *   otherwise the blob is plain/encrypted. So an encoded blob is never
 *   larger than data + 44 bytes.
 * Magics (one per kind) live in formats.ts.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { crc32, loadCrc32Addon } from './crc32.ts';
import { bulwarkError } from '../errors.ts';
import { lazyAddon } from '../native/lazy-addon.ts';
import type { CryptKey } from './crypt-key.ts';
import { chunkDigest, digestHex } from './digest.ts';
import {
  MAGIC_BLOB_ENCRYPTED,
  MAGIC_BLOB_ENCRYPTED_LZ4,
  MAGIC_BLOB_LZ4,
  MAGIC_BLOB_PLAIN,
  MAX_BLOB_SIZE,
  MAX_CHUNK_SIZE,
} from './formats.ts';

export type BlobKind = 'plain' | 'lz4' | 'encrypted' | 'encrypted-lz4';

export const BLOB_HEADER_SIZE = 12;
export const ENCRYPTED_BLOB_HEADER_SIZE = BLOB_HEADER_SIZE + 16 + 16;
/** Largest encoded chunk: a raw MAX_CHUNK_SIZE chunk plus the biggest header. */
export const MAX_ENCODED_CHUNK_SIZE = MAX_CHUNK_SIZE + ENCRYPTED_BLOB_HEADER_SIZE;

const LEN_PREFIX = 4;

// lz4 ships no type declarations; this is the part of its block API we use.
interface Lz4Block {
  /** Returns the compressed size, or 0 when the output range is too small. */
  encodeBlock(input: Uint8Array, output: Buffer, start?: number, end?: number): number;
  /** Returns the decoded size, negative on malformed input. */
  decodeBlock(input: Uint8Array, output: Buffer): number;
}
/** Loaded on first use: a CLI run that never compresses on this thread does not pay for the addon's load. */
const lz4 = lazyAddon<Lz4Block>('lz4');

const MAGICS: ReadonlyArray<readonly [BlobKind, Buffer]> = [
  ['plain', MAGIC_BLOB_PLAIN],
  ['lz4', MAGIC_BLOB_LZ4],
  ['encrypted', MAGIC_BLOB_ENCRYPTED],
  ['encrypted-lz4', MAGIC_BLOB_ENCRYPTED_LZ4],
];
const MAGIC_OF: Record<BlobKind, Buffer> = Object.fromEntries(MAGICS) as Record<BlobKind, Buffer>;

/** Loads the lz4 and CRC-32 addons now rather than on the first blob (a decode worker does it while it boots). */
export function loadBlobAddons(): void {
  lz4();
  loadCrc32Addon();
}

export function isEncryptedKind(kind: BlobKind): boolean {
  return kind === 'encrypted' || kind === 'encrypted-lz4';
}

export function isCompressedKind(kind: BlobKind): boolean {
  return kind === 'lz4' || kind === 'encrypted-lz4';
}

export function headerSize(kind: BlobKind): number {
  return isEncryptedKind(kind) ? ENCRYPTED_BLOB_HEADER_SIZE : BLOB_HEADER_SIZE;
}

function asBuffer(u: Uint8Array): Buffer {
  return Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

/** The kind named by the magic; BULWARK_TRUNCATED / BULWARK_BAD_MAGIC otherwise. */
export function blobKind(blob: Uint8Array, what = 'blob'): BlobKind {
  if (blob.length < BLOB_HEADER_SIZE) {
    throw bulwarkError('BULWARK_TRUNCATED', what, `${blob.length} bytes, shorter than the ${BLOB_HEADER_SIZE}-byte header`);
  }
  const kind = kindOfMagic(blob);
  if (kind === undefined) throw bulwarkError('BULWARK_BAD_MAGIC', what);
  return kind;
}

/** The kind named by the first 8 bytes, or undefined (no length or CRC checks). */
export function kindOfMagic(head: Uint8Array): BlobKind | undefined {
  if (head.length < 8) return undefined;
  const magic = asBuffer(head).subarray(0, 8);
  for (const [kind, m] of MAGICS) if (magic.equals(m)) return kind;
  return undefined;
}

/** Checks length and CRC32 (no key needed) and returns the kind. */
export function verifyBlobCrc(blob: Uint8Array, what = 'blob'): BlobKind {
  const kind = blobKind(blob, what);
  const need = headerSize(kind);
  if (blob.length < need) throw bulwarkError('BULWARK_TRUNCATED', what, `${blob.length} bytes, shorter than the ${need}-byte ${kind} header`);
  const buf = asBuffer(blob);
  const stored = buf.readUInt32LE(8);
  const computed = crc32(buf.subarray(BLOB_HEADER_SIZE));
  if (stored !== computed) throw bulwarkError('BULWARK_BAD_CRC', what, hex32(stored), hex32(computed));
  return kind;
}

const hex32 = (n: number) => n.toString(16).padStart(8, '0');

/** RAW_LEN ‖ lz4 block, or undefined when that would not be smaller than `data`. */
function compress(data: Uint8Array): Buffer | undefined {
  if (data.length <= LEN_PREFIX + 1) return undefined;
  // An output range one byte short of "no gain" makes lz4 give up early (returns 0).
  const out = Buffer.allocUnsafe(data.length - 1);
  const n = lz4().encodeBlock(data, out, LEN_PREFIX, out.length);
  if (n <= 0) return undefined;
  out.writeUInt32LE(data.length, 0);
  return out.subarray(0, LEN_PREFIX + n);
}

function decompress(payload: Buffer, what: string, maxSize: number, output?: (size: number) => Buffer): Buffer {
  if (payload.length < LEN_PREFIX) throw bulwarkError('BULWARK_DECOMPRESS_FAILED', what, 'payload shorter than its length prefix');
  const rawLen = payload.readUInt32LE(0);
  if (rawLen > maxSize) throw bulwarkError('BULWARK_CHUNK_TOO_LARGE', rawLen, maxSize);
  const out = output ? output(rawLen) : Buffer.allocUnsafe(rawLen);
  const n = lz4().decodeBlock(payload.subarray(LEN_PREFIX), out);
  if (n !== rawLen) throw bulwarkError('BULWARK_DECOMPRESS_FAILED', what, n < 0 ? `malformed lz4 block at offset ${-n}` : `${n} bytes, expected ${rawLen}`);
  return out;
}

/**
 * Encodes `data`. With `compress` the lz4 form is used when it is smaller;
 * with `key` the blob is encrypted (AES-256-GCM, random 16-byte IV).
 */
export function encodeBlob(data: Uint8Array, opts: { compress?: boolean; key?: CryptKey } = {}): Buffer {
  const packed = opts.compress ? compress(data) : undefined;
  const payload = packed ?? data;
  let kind: BlobKind;
  let blob: Buffer;
  if (opts.key) {
    kind = packed ? 'encrypted-lz4' : 'encrypted';
    const iv = randomBytes(16);
    const cipher = createCipheriv('aes-256-gcm', opts.key.key, iv);
    const ct = cipher.update(payload);
    const last = cipher.final(); // empty for GCM, but the API wants it called
    blob = Buffer.allocUnsafe(ENCRYPTED_BLOB_HEADER_SIZE + ct.length + last.length);
    iv.copy(blob, BLOB_HEADER_SIZE);
    cipher.getAuthTag().copy(blob, BLOB_HEADER_SIZE + 16);
    ct.copy(blob, ENCRYPTED_BLOB_HEADER_SIZE);
    last.copy(blob, ENCRYPTED_BLOB_HEADER_SIZE + ct.length);
  } else {
    kind = packed ? 'lz4' : 'plain';
    blob = Buffer.allocUnsafe(BLOB_HEADER_SIZE + payload.length);
    blob.set(payload, BLOB_HEADER_SIZE);
  }
  MAGIC_OF[kind].copy(blob, 0);
  blob.writeUInt32LE(crc32(blob.subarray(BLOB_HEADER_SIZE)), 8);
  return blob;
}

export interface DecodeOptions {
  key?: CryptKey;
  /** Names the blob in error messages (`chunk <hex>`, `index.json.blob`). */
  what?: string;
  /** Largest decoded size accepted; default MAX_BLOB_SIZE. */
  maxSize?: number;
  /**
   * Where a compressed blob is decompressed to: a buffer of exactly the
   * size asked for (default: a new one). Other kinds ignore it.
   */
  output?: (size: number) => Buffer;
}

/**
 * Checks and decodes a blob: magic, length, CRC, decryption, decompression,
 * size limit. A plain blob's result shares memory with `blob`.
 */
export function decodeBlob(blob: Uint8Array, opts: DecodeOptions = {}): Buffer {
  const what = opts.what ?? 'blob';
  const maxSize = opts.maxSize ?? MAX_BLOB_SIZE;
  const kind = blobKind(blob, what);
  // Payloads never exceed the data they hold (lz4 is kept only when smaller),
  // so a longer blob cannot be valid: refuse before hashing it.
  if (blob.length > maxSize + headerSize(kind)) {
    throw bulwarkError('BULWARK_CHUNK_TOO_LARGE', blob.length - headerSize(kind), maxSize);
  }
  verifyBlobCrc(blob, what);
  const buf = asBuffer(blob);

  let payload: Buffer;
  if (isEncryptedKind(kind)) {
    if (!opts.key) throw bulwarkError('BULWARK_KEY_REQUIRED', what);
    const decipher = createDecipheriv('aes-256-gcm', opts.key.key, buf.subarray(BLOB_HEADER_SIZE, BLOB_HEADER_SIZE + 16));
    decipher.setAuthTag(buf.subarray(BLOB_HEADER_SIZE + 16, ENCRYPTED_BLOB_HEADER_SIZE));
    try {
      const body = decipher.update(buf.subarray(ENCRYPTED_BLOB_HEADER_SIZE));
      const last = decipher.final();
      payload = last.length === 0 ? body : Buffer.concat([body, last]);
    } catch (err) {
      throw bulwarkError('BULWARK_DECRYPT_FAILED', what, { cause: err });
    }
  } else {
    payload = buf.subarray(BLOB_HEADER_SIZE);
  }

  if (isCompressedKind(kind)) return decompress(payload, what, maxSize, opts.output);
  if (payload.length > maxSize) throw bulwarkError('BULWARK_CHUNK_TOO_LARGE', payload.length, maxSize);
  return payload;
}

/**
 * Decodes a chunk (limit MAX_CHUNK_SIZE) and checks it against its digest.
 * The key keys the digest only for encrypted blobs, as in PBS: a plain chunk
 * is always named by its plain SHA-256.
 */
export function decodeChunk(blob: Uint8Array, expectedDigest: Uint8Array, opts: { key?: CryptKey; output?: (size: number) => Buffer } = {}): Buffer {
  const expected = digestHex(expectedDigest);
  const what = `chunk ${expected}`;
  const data = decodeBlob(blob, { key: opts.key, what, maxSize: MAX_CHUNK_SIZE, ...(opts.output && { output: opts.output }) });
  const encrypted = isEncryptedKind(blobKind(blob, what));
  const computed = chunkDigest(data, encrypted ? opts.key : undefined);
  if (!computed.equals(asBuffer(expectedDigest))) throw bulwarkError('BULWARK_DIGEST_MISMATCH', expected, computed.toString('hex'));
  return data;
}
