/**
 * Chunk digests: the name of every chunk in the store.
 *
 * Unencrypted: SHA-256(data). Encrypted: SHA-256(data ‖ idKey), the way PBS
 * does it, so a digest never reveals the plain SHA-256 of secret data and
 * chunks of different keys never deduplicate against each other. The id key
 * goes last to rule out length-extension games.
 *
 * On the wire and in memory a digest is 32 raw bytes; on disk and at the
 * ChunkBackend seam it is 64 lowercase hex characters.
 */
import { createHash } from 'node:crypto';
import { bulwarkError } from '../errors.ts';
import { DIGEST_SIZE } from './formats.ts';

/** The one thing a digest needs from a key; keeps this file free of crypt-key.ts. */
export interface DigestKey {
  readonly idKey: Uint8Array;
}

export function chunkDigest(data: Uint8Array, key?: DigestKey): Buffer {
  const hash = createHash('sha256').update(data);
  if (key) hash.update(key.idKey);
  return hash.digest();
}

export function digestHex(digest: Uint8Array): string {
  if (digest.length !== DIGEST_SIZE) throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'digest', `${digest.length} bytes, expected ${DIGEST_SIZE}`);
  return Buffer.from(digest.buffer, digest.byteOffset, digest.byteLength).toString('hex');
}

const HEX_DIGEST = /^[0-9a-f]{64}$/;

export function isDigestHex(hex: string): boolean {
  return HEX_DIGEST.test(hex);
}

/** Parses 64 lowercase hex characters; anything else (upper case included) is refused. */
export function parseDigestHex(hex: string): Buffer {
  if (typeof hex !== 'string' || !HEX_DIGEST.test(hex)) {
    throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'digest', JSON.stringify(String(hex).slice(0, 80)));
  }
  return Buffer.from(hex, 'hex');
}

/** Raw bytes or hex in, validated hex out (the form backends use). */
export function toDigestHex(digest: Uint8Array | string): string {
  if (typeof digest === 'string') {
    parseDigestHex(digest);
    return digest;
  }
  return digestHex(digest);
}
