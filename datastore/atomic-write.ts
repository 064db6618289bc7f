/**
 * The one way to write a file that must survive a crash: write to a unique
 * temporary name in the same directory, optionally fsync it, rename it over
 * the target, optionally fsync the directory so the rename itself is durable.
 * A crash at any point leaves either the old file or the new one, never a
 * torn mix; leftover temporaries end in `.tmp` and are safe to delete.
 */
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';

export interface AtomicWriteOptions {
  /** fsync the file before and the directory after the rename. */
  readonly fsync?: boolean;
  /** File mode for a newly created file (default 0o644). */
  readonly mode?: number;
}

/** Temporary name beside `path`, unique per call. */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
}

export function fsyncDirSync(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export function atomicWriteFileSync(path: string, data: Uint8Array | string, options: AtomicWriteOptions = {}): void {
  const tmp = tempPathFor(path);
  const fd = openSync(tmp, 'wx', options.mode ?? 0o644);
  try {
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    if (options.fsync) fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, path);
  } catch (err) {
    try { closeSync(fd); } catch { /* already closed */ }
    rmSync(tmp, { force: true });
    throw err;
  }
  if (options.fsync) fsyncDirSync(dirname(path));
}

export async function atomicWriteFile(path: string, data: Uint8Array | string, options: AtomicWriteOptions = {}): Promise<void> {
  const tmp = tempPathFor(path);
  const handle = await open(tmp, 'wx', options.mode ?? 0o644);
  try {
    await handle.writeFile(data);
    if (options.fsync) await handle.sync();
    await handle.close();
    await rename(tmp, path);
  } catch (err) {
    await handle.close().catch(() => undefined);
    await rm(tmp, { force: true });
    throw err;
  }
  if (options.fsync) await fsyncDir(dirname(path));
}

/**
 * Rename a fully written temporary file into place (for writers that stream
 * to their own temp file, such as index writers).
 */
export function commitTempFileSync(tmp: string, path: string, options: { fsync?: boolean } = {}): void {
  renameSync(tmp, path);
  if (options.fsync) fsyncDirSync(dirname(path));
}
