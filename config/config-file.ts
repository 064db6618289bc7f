/**
 * Typed JSON config files with PBS's digest discipline: every read returns
 * the SHA-256 of the bytes it parsed, and a write may name the digest it was
 * based on; if the file changed since, the write is refused with
 * BULWARK_CONFIG_DIGEST instead of silently dropping someone's edit. Writes
 * are atomic, fsync'd and mode 0600 (files hold password hashes and secrets),
 * serialised across processes by a kernel lock on `<file>.lck`.
 */
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { atomicWriteFileSync } from '../datastore/atomic-write.ts';
import { bulwarkError, isBulwarkError } from '../errors.ts';

const require = createRequire(import.meta.url);
const fsx = require('fs-native-extensions') as {
  waitForLockSync(fd: number): void;
  unlock(fd: number): void;
};

export interface Loaded<T> {
  readonly data: T;
  /** Hex SHA-256 of the file as read; of the empty string when the file is absent. */
  readonly digest: string;
}

/** Validates raw JSON and returns typed data, throwing BULWARK_CONFIG_INVALID. */
export type Parser<T> = (raw: unknown, file: string) => T;

export function digestOf(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export function readConfigFile<T>(path: string, parse: Parser<T>, empty: () => T): Loaded<T> {
  if (!existsSync(path)) return { data: empty(), digest: digestOf('') };
  const bytes = readFileSync(path);
  let raw: unknown;
  try {
    raw = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw bulwarkError('BULWARK_CONFIG_INVALID', path, (err as Error).message, { cause: err });
  }
  return { data: parse(raw, path), digest: digestOf(bytes) };
}

function withFileLock<R>(path: string, fn: () => R): R {
  const fd = openSync(`${path}.lck`, 'a', 0o600);
  try {
    fsx.waitForLockSync(fd);
    return fn();
  } finally {
    closeSync(fd); // closing the descriptor drops the OFD lock
  }
}

/**
 * Read-modify-write under the file lock. `update` gets the current data and
 * returns the new data; when `expectedDigest` is given and differs from the
 * file's current digest, nothing is written.
 */
export function updateConfigFile<T>(
  path: string,
  parse: Parser<T>,
  empty: () => T,
  update: (current: T) => T,
  expectedDigest?: string,
): Loaded<T> {
  return withFileLock(path, () => {
    const current = readConfigFile(path, parse, empty);
    if (expectedDigest !== undefined && expectedDigest !== current.digest) {
      throw bulwarkError('BULWARK_CONFIG_DIGEST', path);
    }
    const next = update(current.data);
    parse(JSON.parse(JSON.stringify(next)), path); // never write what we could not read back
    const text = `${JSON.stringify(next, null, 2)}\n`;
    atomicWriteFileSync(path, text, { fsync: true, mode: 0o600 });
    return { data: next, digest: digestOf(text) };
  });
}

/** Helpers for hand-written parsers: each throws BULWARK_CONFIG_INVALID naming the field. */
export function expectObject(raw: unknown, file: string, what: string): Record<string, unknown> {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw bulwarkError('BULWARK_CONFIG_INVALID', file, `${what} must be an object`);
  }
  return raw as Record<string, unknown>;
}

export function expectString(obj: Record<string, unknown>, key: string, file: string, what: string, optional = false): string | undefined {
  const v = obj[key];
  if (v === undefined && optional) return undefined;
  if (typeof v !== 'string') throw bulwarkError('BULWARK_CONFIG_INVALID', file, `${what}.${key} must be a string`);
  return v;
}

export function rethrowAsConfigError(err: unknown, file: string, what: string): never {
  if (isBulwarkError(err, 'BULWARK_CONFIG_INVALID')) throw err;
  throw bulwarkError('BULWARK_CONFIG_INVALID', file, `${what}: ${(err as Error).message}`, { cause: err });
}
