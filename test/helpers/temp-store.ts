/**
 * A throw-away datastore directory for tests: just the empty store dir (no
 * `.chunks` tree; the chunk store's own helper creates that when needed).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TempStore {
  /** Absolute path of the store dir. */
  readonly path: string;
  /** Delete the store and everything in it. Idempotent. */
  remove(): void;
}

export function makeTempStore(prefix = 'bulwark-'): TempStore {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}
