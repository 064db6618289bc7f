/**
 * level-rocksdb, typed to the part Bulwark uses (the package ships no
 * types), with its error cases named. Every RocksDB in the server holds
 * derived state that can be rebuilt from files, so callers may wipe a
 * database that fails to open, but never one another handle holds.
 */
import { createRequire } from 'node:module';
import { rmSync } from 'node:fs';

export interface LevelIterator extends AsyncIterable<[string, unknown]> {
  end(): Promise<void>;
}

export interface LevelDb {
  get(key: string): Promise<unknown>;
  put(key: string, value: unknown): Promise<void>;
  del(key: string): Promise<void>;
  batch(ops: { type: 'put' | 'del'; key: string; value?: unknown }[]): Promise<void>;
  iterator(options: { gte?: string; lt?: string; reverse?: boolean; keys?: boolean; values?: boolean; limit?: number }): LevelIterator;
  close(): Promise<void>;
}

type LevelFactory = (location: string, options: { valueEncoding: 'json' }, cb: (err: Error | null | undefined, db: LevelDb) => void) => unknown;
const levelRocksdb = createRequire(import.meta.url)('level-rocksdb') as LevelFactory;

export function openLevel(location: string): Promise<LevelDb> {
  return new Promise((resolve, reject) => {
    levelRocksdb(location, { valueEncoding: 'json' }, (err, db) => (err ? reject(err) : resolve(db)));
  });
}

export const errorMessage = (err: unknown): string => (err instanceof Error ? err.message : String(err));
/** RocksDB's words for "another handle holds this database": never wipe then. */
export const isLockError = (err: unknown): boolean => /While lock file|lock hold by current process/i.test(errorMessage(err));
export const isNotFound = (err: unknown): boolean => (err as { notFound?: boolean } | null)?.notFound === true;

/** Opens `location`; a database that cannot be opened (corrupt) is removed and created empty. `reset` says why. */
export async function openOrReset(location: string): Promise<{ db: LevelDb; reset?: string }> {
  try {
    return { db: await openLevel(location) };
  } catch (err) {
    if (isLockError(err)) throw err;
    rmSync(location, { recursive: true, force: true });
    return { db: await openLevel(location), reset: `could not open: ${errorMessage(err)}` };
  }
}
