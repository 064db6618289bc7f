/**
 * Creating and checking a datastore directory. A datastore is a directory
 * holding `.chunks/` (65536 prefix dirs, made once here so inserts never
 * race on mkdir) and `.locks/`; namespaces, groups and snapshots live beside
 * them. Creation refuses a non-empty directory that is not already a store,
 * so a typo'd path can never scatter chunk dirs over someone's files.
 */
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { bulwarkError } from '../errors.ts';
import { createChunkDir } from './fs-chunk-backend.ts';

export const CHUNK_DIR = '.chunks';
export const LOCK_DIR = '.locks';

export function isDatastoreDir(path: string): boolean {
  try {
    return statSync(join(path, CHUNK_DIR)).isDirectory();
  } catch {
    return false;
  }
}

/** Creates the store layout; a no-op for a path that already holds a store. */
export function createDatastore(path: string): { created: boolean } {
  if (isDatastoreDir(path)) return { created: false };
  if (existsSync(path)) {
    if (!statSync(path).isDirectory()) throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'datastore path', `${path} is not a directory`);
    const entries = readdirSync(path).filter((e) => e !== 'lost+found');
    if (entries.length > 0) {
      throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'datastore path', `${path} is not empty and holds no datastore`);
    }
  }
  mkdirSync(path, { recursive: true, mode: 0o750 });
  mkdirSync(join(path, LOCK_DIR), { recursive: true, mode: 0o750 });
  createChunkDir(path);
  return { created: true };
}

/** Throws a typed error when `path` is not a usable datastore. */
export function checkDatastore(path: string): void {
  if (!existsSync(path)) throw bulwarkError('BULWARK_NOT_FOUND', `datastore directory ${path}`);
  if (!isDatastoreDir(path)) {
    throw bulwarkError('BULWARK_NOT_FOUND', `chunk directory ${join(path, CHUNK_DIR)} (is ${path} a datastore?)`);
  }
}
