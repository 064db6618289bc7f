/**
 * Encryption keys, after PBS's CryptConfig and KeyConfig.
 *
 * - key: 32 random bytes, the AES-256-GCM key for blobs.
 * - idKey = PBKDF2-HMAC-SHA256(key, "_id_key", 10 rounds, 32 bytes): keys the
 *   chunk digests (digest.ts) and manifest signatures, so neither reveals
 *   anything about the plaintext.
 * - fingerprint = SHA-256(SHA-256("Proxmox Backup Encryption Key Fingerprint") ‖ idKey),
 *   shown as `aa:bb:…` (32 bytes). Same derivation as PBS, so a key
 *   shows the same fingerprint in both.
 *
 * Key file (JSON, mode 0600):
 *   { "kdf": null | { "scrypt": { "n", "r", "p", "salt": base64 } },
 *     "created": RFC 3339, "modified": RFC 3339,
 *     "data": base64, "fingerprint": "aa:bb:…" }
 * With kdf null, data is the raw key. With scrypt, data is (IV(16)‖TAG(16)‖
 * AES-256-GCM(key)) under scrypt(password, salt), as PBS does it.
 */
import { createCipheriv, createDecipheriv, createHash, createHmac, pbkdf2Sync, randomBytes, scrypt } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { inspect } from 'node:util';
import { bulwarkError, isBulwarkError } from '../errors.ts';
import { atomicWriteFile } from './atomic-write.ts';

export const KEY_SIZE = 32;

const FINGERPRINT_INPUT = createHash('sha256').update('Proxmox Backup Encryption Key Fingerprint').digest();

export class CryptKey {
  /** The AES-256 key. Treat as secret: never log or serialise it. */
  readonly key: Buffer;
  readonly idKey: Buffer;
  readonly fingerprint: Buffer;

  /** Use generateKey() or keyFromBytes(); this copies the bytes it is given. */
  constructor(bytes: Uint8Array) {
    if (bytes.length !== KEY_SIZE) throw bulwarkError('BULWARK_INVALID_KEY', `key is ${bytes.length} bytes, expected ${KEY_SIZE}`);
    this.key = Buffer.from(bytes);
    this.idKey = pbkdf2Sync(this.key, '_id_key', 10, 32, 'sha256');
    this.fingerprint = createHash('sha256').update(FINGERPRINT_INPUT).update(this.idKey).digest();
  }

  /** `aa:bb:…`, the form users compare. */
  get fingerprintText(): string {
    return formatFingerprint(this.fingerprint);
  }

  /** HMAC-SHA256 keyed by idKey (PBS compute_auth_tag; used to sign manifests). */
  authTag(data: Uint8Array | string): Buffer {
    return createHmac('sha256', this.idKey).update(data).digest();
  }

  // Keep the secret out of logs, JSON and console output.
  toJSON(): { fingerprint: string } {
    return { fingerprint: this.fingerprintText };
  }

  [inspect.custom](): string {
    return `CryptKey <${this.fingerprintText}>`;
  }
}

export function generateKey(): CryptKey {
  return new CryptKey(randomBytes(KEY_SIZE));
}

/** BULWARK_INVALID_KEY unless exactly 32 bytes. */
export function keyFromBytes(bytes: Uint8Array): CryptKey {
  return new CryptKey(bytes);
}

export function formatFingerprint(fp: Uint8Array): string {
  return Array.from(fp, (b) => b.toString(16).padStart(2, '0')).join(':');
}

// ── key files ────────────────────────────────────────────────────────────

export interface ScryptParams {
  readonly n: number;
  readonly r: number;
  readonly p: number;
}

/** PBS's defaults: about 64 MiB and a few hundred ms per derivation. */
export const DEFAULT_SCRYPT: ScryptParams = { n: 65536, r: 8, p: 1 };

export interface KeyFile {
  kdf: null | { scrypt: ScryptParams & { salt: string } };
  created: string;
  modified: string;
  data: string;
  fingerprint: string;
}

export interface KeyFileOptions {
  /** Scrypt cost (only with a password); tests pass a cheap one. */
  readonly scrypt?: ScryptParams;
  readonly now?: () => number;
}

function deriveKey(password: string, salt: Buffer, params: ScryptParams): Promise<Buffer> {
  const { n: N, r, p } = params;
  // Node's default maxmem (32 MiB) is below what PBS's n=65536, r=8 needs (64 MiB).
  const maxmem = 128 * N * r * p + 128 * N * r + 16 * 1024 * 1024;
  return new Promise((resolve, reject) => {
    scrypt(password, salt, KEY_SIZE, { N, r, p, maxmem }, (err, out) => (err ? reject(bulwarkError('BULWARK_INVALID_KEY', `scrypt: ${err.message}`, { cause: err })) : resolve(out)));
  });
}

/** The key file contents for `key`, password-wrapped when a password is given. */
export async function encodeKeyFile(key: CryptKey, password?: string, opts: KeyFileOptions = {}): Promise<KeyFile> {
  const stamp = new Date((opts.now ?? Date.now)()).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const base = { created: stamp, modified: stamp, fingerprint: key.fingerprintText };
  if (password === undefined) return { kdf: null, ...base, data: key.key.toString('base64') };

  const params = opts.scrypt ?? DEFAULT_SCRYPT;
  const salt = randomBytes(32);
  const iv = randomBytes(16);
  const cipher = createCipheriv('aes-256-gcm', await deriveKey(password, salt, params), iv);
  const ct = Buffer.concat([cipher.update(key.key), cipher.final()]);
  return {
    kdf: { scrypt: { n: params.n, r: params.r, p: params.p, salt: salt.toString('base64') } },
    ...base,
    data: Buffer.concat([iv, cipher.getAuthTag(), ct]).toString('base64'),
  };
}

/** Inverse of encodeKeyFile. Wrong password: BULWARK_DECRYPT_FAILED. */
export async function decodeKeyFile(file: unknown, password?: string, what = 'key file'): Promise<CryptKey> {
  const kf = file as Partial<KeyFile> | null;
  if (kf === null || typeof kf !== 'object' || typeof kf.data !== 'string') throw bulwarkError('BULWARK_INVALID_KEY', `${what} has no key data`);
  const data = Buffer.from(kf.data, 'base64');

  let key: CryptKey;
  if (kf.kdf === null || kf.kdf === undefined) {
    key = keyFromBytes(data);
  } else {
    const s = kf.kdf.scrypt;
    if (!s || ![s.n, s.r, s.p].every(Number.isSafeInteger) || typeof s.salt !== 'string') {
      throw bulwarkError('BULWARK_INVALID_KEY', `${what} has an unsupported kdf`);
    }
    if (password === undefined) throw bulwarkError('BULWARK_KEY_REQUIRED', `password-protected ${what}`);
    if (data.length !== 32 + KEY_SIZE) throw bulwarkError('BULWARK_INVALID_KEY', `${what} has ${data.length} bytes of wrapped key data`);
    const decipher = createDecipheriv('aes-256-gcm', await deriveKey(password, Buffer.from(s.salt, 'base64'), s), data.subarray(0, 16));
    decipher.setAuthTag(data.subarray(16, 32));
    try {
      key = keyFromBytes(Buffer.concat([decipher.update(data.subarray(32)), decipher.final()]));
    } catch (err) {
      if (isBulwarkError(err)) throw err;
      throw bulwarkError('BULWARK_DECRYPT_FAILED', what, { cause: err });
    }
  }
  // A stored fingerprint that disagrees means the file was edited or mixed up.
  if (typeof kf.fingerprint === 'string' && kf.fingerprint !== key.fingerprintText) {
    throw bulwarkError('BULWARK_INVALID_KEY', `${what}: fingerprint ${kf.fingerprint} does not match the key (${key.fingerprintText})`);
  }
  return key;
}

export async function saveKeyFile(path: string, key: CryptKey, password?: string, opts: KeyFileOptions = {}): Promise<void> {
  const file = await encodeKeyFile(key, password, opts);
  await atomicWriteFile(path, `${JSON.stringify(file, null, 2)}\n`, { fsync: true, mode: 0o600 });
}

export async function loadKeyFile(path: string, password?: string): Promise<CryptKey> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw bulwarkError('BULWARK_NOT_FOUND', `key file ${path}`);
    throw bulwarkError('BULWARK_IO', path, (err as Error).message, { cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw bulwarkError('BULWARK_INVALID_KEY', `key file ${path} is not valid JSON`, { cause: err });
  }
  return decodeKeyFile(json, password, `key file ${path}`);
}
