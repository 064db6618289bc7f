/**
 * The backup manifest (`index.json.blob`), PBS's BackupManifest
 * (pbs-datastore/src/manifest.rs): the list of a snapshot's archives with
 * their sizes and checksums. A snapshot without one is unfinished.
 *
 * Stored as an unencrypted blob (lz4 when that is smaller) holding JSON:
 *   { "backup-type": "vm"|"ct"|"host", "backup-id": string, "backup-time": epoch seconds,
 *     "files": [{ "filename", "crypt-mode": "none"|"encrypt"|"sign-only", "size", "csum": hex }],
 *     "unprotected": { "verify_state"?: { "state": "ok"|"failed", "upid" },
 *                      "notes"?: string, "key-fingerprint"?: "aa:bb:…", …anything else },
 *     "signature"?: hex }
 *
 * signature = HMAC-SHA256 keyed by the client key's id key (PBS
 * compute_auth_tag) over the canonical JSON (keys sorted, no whitespace) of
 * the manifest without "unprotected" and "signature". The server, which has
 * no key, may thus rewrite "unprotected" (verify state, notes) and the
 * signature still holds; everything else is covered by it.
 */
import { readFileSync } from 'node:fs';
import { timingSafeEqual } from 'node:crypto';
import { bulwarkError, isBulwarkError } from '../errors.ts';
import { atomicWriteFileSync } from './atomic-write.ts';
import { decodeBlob, encodeBlob } from './blob.ts';
import type { CryptKey } from './crypt-key.ts';
import { ioError } from './index-common.ts';
import { validateBackupId, validateBackupType, formatBackupTime, parseBackupTime, validateSafeId, type BackupType } from './names.ts';

export const MANIFEST_BLOB_NAME = 'index.json.blob';
export const CRYPT_MODES = ['none', 'encrypt', 'sign-only'] as const;
export type CryptMode = (typeof CRYPT_MODES)[number];
export type ArchiveKind = 'fixed' | 'dynamic' | 'blob';

export interface ManifestFile {
  readonly filename: string;
  readonly 'crypt-mode': CryptMode;
  readonly size: number;
  /** SHA-256, hex: the index checksum for .fidx/.didx, of the blob file for .blob. */
  readonly csum: string;
}

export interface VerifyState {
  readonly state: 'ok' | 'failed';
  readonly upid: string;
}

/** Not covered by the signature: the server keeps its own records here. */
export interface ManifestUnprotected {
  verify_state?: VerifyState;
  notes?: string;
  'key-fingerprint'?: string;
  [key: string]: unknown;
}

export interface Manifest {
  readonly 'backup-type': BackupType;
  readonly 'backup-id': string;
  readonly 'backup-time': number;
  readonly files: readonly ManifestFile[];
  readonly unprotected: ManifestUnprotected;
  readonly signature?: string;
}

/** The part of a CryptKey signing needs (CryptKey satisfies it). */
export type ManifestKey = Pick<CryptKey, 'authTag' | 'fingerprintText'>;

export interface ManifestFileInput {
  readonly filename: string;
  readonly cryptMode?: CryptMode;
  readonly size: number;
  readonly csum: Uint8Array | string;
}

const ARCHIVE_EXTENSIONS: Record<string, ArchiveKind> = { '.fidx': 'fixed', '.didx': 'dynamic', '.blob': 'blob' };
const HEX_DIGEST = /^[0-9a-f]{64}$/;
const FINGERPRINT = /^[0-9a-f]{2}(?::[0-9a-f]{2}){31}$/;

/** `[A-Za-z0-9_][A-Za-z0-9._-]*` ending in .fidx, .didx or .blob; else BULWARK_INVALID_NAME. */
export function validateArchiveName(name: unknown): string {
  const valid = validateSafeId('archive name', name);
  if (archiveKind(valid) === undefined) {
    throw bulwarkError('BULWARK_INVALID_NAME', 'archive name', JSON.stringify(valid), 'must end in .fidx, .didx or .blob');
  }
  return valid;
}

export function archiveKind(name: string): ArchiveKind | undefined {
  const dot = name.lastIndexOf('.');
  return dot > 0 ? ARCHIVE_EXTENSIONS[name.slice(dot)] : undefined;
}

export function manifestFile(input: ManifestFileInput): ManifestFile {
  const filename = validateArchiveName(input.filename);
  const cryptMode = input.cryptMode ?? 'none';
  if (!CRYPT_MODES.includes(cryptMode)) throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'crypt mode', cryptMode);
  if (!Number.isSafeInteger(input.size) || input.size < 0) throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'size', input.size);
  const csum = typeof input.csum === 'string' ? input.csum : Buffer.from(input.csum).toString('hex');
  if (!HEX_DIGEST.test(csum)) throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'csum', 'must be 32 bytes (64 lowercase hex digits)');
  return { filename, 'crypt-mode': cryptMode, size: input.size, csum };
}

export function createManifest(opts: {
  backupType: BackupType; backupId: string; backupTime: number;
  files?: readonly ManifestFileInput[]; unprotected?: ManifestUnprotected;
}): Manifest {
  const files = (opts.files ?? []).map(manifestFile);
  const seen = new Set<string>();
  for (const f of files) {
    if (seen.has(f.filename)) throw bulwarkError('BULWARK_ALREADY_EXISTS', `archive ${f.filename} in the manifest`);
    seen.add(f.filename);
  }
  return {
    'backup-type': validateBackupType(opts.backupType),
    'backup-id': validateBackupId(opts.backupId),
    'backup-time': parseBackupTime(opts.backupTime),
    files,
    unprotected: checkUnprotected(opts.unprotected ?? {}),
  };
}

export function lookupManifestFile(m: Manifest, filename: string): ManifestFile {
  const file = m.files.find((f) => f.filename === filename);
  if (!file) throw bulwarkError('BULWARK_NOT_FOUND', `archive ${filename} in manifest ${manifestName(m)}`);
  return file;
}

// ── signature ─────────────────────────────────────────────────────────────

/** JSON with object keys sorted at every level and no whitespace (PBS to_canonical_json). */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v ?? null)).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** HMAC over everything but "unprotected" and "signature". */
export function computeManifestSignature(m: Manifest, key: ManifestKey): Buffer {
  const { unprotected: _u, signature: _s, ...signed } = m;
  return key.authTag(canonicalJson(signed));
}

/** A signed copy; records the key's fingerprint in "unprotected", as PBS does. */
export function signManifest(m: Manifest, key: ManifestKey): Manifest {
  return {
    ...m,
    unprotected: { ...m.unprotected, 'key-fingerprint': key.fingerprintText },
    signature: computeManifestSignature(m, key).toString('hex'),
  };
}

/** BULWARK_MANIFEST_SIGNATURE unless `m` carries a signature made with `key`. */
export function verifyManifestSignature(m: Manifest, key: ManifestKey): void {
  const what = manifestName(m);
  if (typeof m.signature !== 'string') throw bulwarkError('BULWARK_MANIFEST_SIGNATURE', what, 'it is not signed');
  const fingerprint = m.unprotected['key-fingerprint'];
  // Check the recorded key first: "wrong key" is a far better message than "bad signature".
  if (typeof fingerprint === 'string' && fingerprint !== key.fingerprintText) {
    throw bulwarkError('BULWARK_MANIFEST_SIGNATURE', what, `signed with key ${fingerprint}, not with ${key.fingerprintText}`);
  }
  const stored = Buffer.from(m.signature, 'hex');
  const computed = computeManifestSignature(m, key);
  if (stored.length !== computed.length || !timingSafeEqual(stored, computed)) {
    throw bulwarkError('BULWARK_MANIFEST_SIGNATURE', what, 'signature does not match its contents');
  }
}

// ── encoding and files ───────────────────────────────────────────────────

/** Pretty JSON as PBS writes it, in an unencrypted blob. Refuses a manifest that would not read back. */
export function encodeManifestBlob(m: Manifest): Buffer {
  const what = manifestName(m);
  let text: string;
  try {
    // PBS's field order, for people reading the file.
    text = JSON.stringify({
      'backup-type': m['backup-type'], 'backup-id': m['backup-id'], 'backup-time': m['backup-time'],
      files: m.files, unprotected: m.unprotected, signature: m.signature,
    }, null, 2);
  } catch (err) {
    throw bulwarkError('BULWARK_MANIFEST_INVALID', what, `not serialisable: ${(err as Error).message}`, { cause: err });
  }
  parseManifest(JSON.parse(text), what);
  return encodeBlob(Buffer.from(text, 'utf8'), { compress: true });
}

export function decodeManifestBlob(buf: Uint8Array, what: string): Manifest {
  const data = decodeBlob(buf, { what });
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(data));
  } catch (err) {
    throw bulwarkError('BULWARK_MANIFEST_INVALID', what, `not valid UTF-8 JSON: ${(err as Error).message}`, { cause: err });
  }
  return parseManifest(json, what);
}

export function readManifest(path: string): Manifest {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (err) {
    throw ioError(path, err);
  }
  return decodeManifestBlob(buf, path);
}

/** Atomic replace: readers see the old manifest or the new one, never a torn file. */
export function writeManifest(path: string, m: Manifest, opts: { fsync?: boolean } = {}): void {
  const blob = encodeManifestBlob(m);
  try {
    atomicWriteFileSync(path, blob, { fsync: opts.fsync ?? true });
  } catch (err) {
    throw ioError(path, err);
  }
}

/**
 * Rewrite only "unprotected" (verify state, notes). `fn` gets a copy to
 * change or replace; the signed part is written back untouched, so the
 * signature stays valid. The caller holds the snapshot's manifest lock.
 */
export function updateUnprotected(
  path: string,
  fn: (unprotected: ManifestUnprotected) => ManifestUnprotected | void,
  opts: { fsync?: boolean } = {},
): Manifest {
  const m = readManifest(path);
  const draft = structuredClone(m.unprotected);
  const next: Manifest = { ...m, unprotected: fn(draft) ?? draft };
  writeManifest(path, next, opts);
  return next;
}

// ── validation ───────────────────────────────────────────────────────────

const TOP_KEYS = new Set(['backup-type', 'backup-id', 'backup-time', 'files', 'unprotected', 'signature']);
const FILE_KEYS = new Set(['filename', 'crypt-mode', 'size', 'csum']);

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function checkUnprotected(value: unknown): ManifestUnprotected {
  if (!isPlainObject(value)) throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'unprotected', 'must be an object');
  const vs = value.verify_state;
  if (vs !== undefined && (!isPlainObject(vs) || (vs.state !== 'ok' && vs.state !== 'failed') || typeof vs.upid !== 'string')) {
    throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'verify_state', 'must be { state: "ok" | "failed", upid: string }');
  }
  if (value.notes !== undefined && typeof value.notes !== 'string') {
    throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'notes', 'must be a string');
  }
  const fp = value['key-fingerprint'];
  if (fp !== undefined && (typeof fp !== 'string' || !FINGERPRINT.test(fp))) {
    throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'key-fingerprint', 'must be 32 hex bytes as aa:bb:…');
  }
  return value as ManifestUnprotected;
}

/**
 * Check parsed JSON against the manifest shape; anything off is
 * BULWARK_MANIFEST_INVALID saying what. Unknown keys are refused outside
 * "unprotected": they would be signed yet invisible to this code.
 */
export function parseManifest(json: unknown, what: string): Manifest {
  const fail = (reason: string): never => { throw bulwarkError('BULWARK_MANIFEST_INVALID', what, reason); };
  if (!isPlainObject(json)) return fail('not a JSON object');
  for (const key of Object.keys(json)) if (!TOP_KEYS.has(key)) fail(`unknown field "${key}"`);
  for (const key of ['backup-type', 'backup-id', 'backup-time', 'files']) {
    if (json[key] === undefined) fail(`missing "${key}"`);
  }
  if (typeof json['backup-time'] !== 'number') fail('"backup-time" is not a number');
  if (!Array.isArray(json.files)) return fail('"files" is not an array');
  const files: ManifestFileInput[] = json.files.map((f: unknown, i: number) => {
    if (!isPlainObject(f)) return fail(`files[${i}] is not an object`);
    for (const key of Object.keys(f)) if (!FILE_KEYS.has(key)) fail(`files[${i}] has unknown field "${key}"`);
    if (typeof f.filename !== 'string') fail(`files[${i}].filename is not a string`);
    if (typeof f.size !== 'number') fail(`files[${i}].size is not a number`);
    if (typeof f.csum !== 'string') fail(`files[${i}].csum is not a string`);
    // Manifests before PBS 0.8 had no crypt mode: they were unencrypted.
    return { filename: f.filename, cryptMode: f['crypt-mode'] ?? 'none', size: f.size, csum: f.csum } as ManifestFileInput;
  });
  const signature = json.signature ?? undefined; // PBS writes null when unsigned
  if (signature !== undefined && (typeof signature !== 'string' || !HEX_DIGEST.test(signature))) {
    fail('"signature" is not 64 lowercase hex digits');
  }
  try {
    const m = createManifest({
      backupType: json['backup-type'] as BackupType,
      backupId: json['backup-id'] as string,
      backupTime: json['backup-time'] as number,
      files,
      unprotected: (json.unprotected ?? {}) as ManifestUnprotected, // absent before PBS 0.8
    });
    return signature === undefined ? m : { ...m, signature: signature as string };
  } catch (err) {
    if (isBulwarkError(err)) throw bulwarkError('BULWARK_MANIFEST_INVALID', what, err.message, { cause: err });
    throw err;
  }
}

/** The snapshot as users write it: type/id/RFC 3339 time. */
function manifestName(m: Manifest): string {
  return `${m['backup-type']}/${m['backup-id']}/${formatBackupTime(m['backup-time'])}`;
}
