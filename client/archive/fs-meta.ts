/**
 * File-system metadata helpers for the archive encoder and extractor: lstat
 * (bigint, for ns times and 64-bit inodes), xattrs through an open fd
 * (fs-native-extensions; Node has no xattr API), nanosecond times through
 * Bulwark's own addon (native/: fs.utimes takes a double and libuv truncates
 * it to microseconds), and fifos and device nodes with coreutils `mkfifo` /
 * `mknod` in a child process (Node has no mknod).
 *
 * Child processes get their target directory as an inherited fd and reach it
 * through /proc/self/fd/3, so paths never have to be valid UTF-8 argv
 * strings; a name that is not valid UTF-8 is renamed to an ASCII temporary
 * name around the call.
 */
import { spawn } from 'node:child_process';
import { constants as C, lutimesSync } from 'node:fs';
import fs from 'node:fs/promises';
import type { BigIntStats } from 'node:fs';
import { bulwarkError } from '../../errors.ts';
import { nativeLoadError, utimensNs } from '../../native/index.ts';
import { lazyAddon } from '../../native/lazy-addon.ts';
import type { EntryKind, Xattr } from './format.ts';

/** The xattr part of fs-native-extensions (it ships no types). The sync calls are single syscalls. */
interface NativeXattrs {
  listAttrsSync(fd: number): string[];
  getAttrSync(fd: number, name: string): Buffer | null;
  setAttrSync(fd: number, name: string, value: Buffer): void;
}
/** Loaded on first use (most CLI runs, and a restore's main thread, never touch an xattr). */
const fsx = lazyAddon<NativeXattrs>('fs-native-extensions');

export function statKind(st: Pick<BigIntStats, 'isFile' | 'isDirectory' | 'isSymbolicLink' | 'isFIFO' | 'isCharacterDevice' | 'isBlockDevice' | 'isSocket'>): Exclude<EntryKind, 'hardlink'> | 'socket' | undefined {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isFIFO()) return 'fifo';
  if (st.isCharacterDevice()) return 'char';
  if (st.isBlockDevice()) return 'block';
  if (st.isSocket()) return 'socket';
  return undefined;
}

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** All xattrs of an open file, sorted by name; [] where the file system has none. */
export function readXattrs(fd: number): Xattr[] {
  let names: string[];
  try {
    names = fsx().listAttrsSync(fd);
  } catch (err) {
    if (isCode(err, 'ENOTSUP') || isCode(err, 'EOPNOTSUPP')) return [];
    throw err;
  }
  const out: Xattr[] = [];
  for (const name of names) {
    const value = fsx().getAttrSync(fd, name);
    if (value !== null) out.push({ name: Buffer.from(name, 'utf8'), value });
  }
  return out.sort((a, b) => Buffer.compare(a.name, b.name));
}

/** Sets xattrs on an open file; returns a message per one that could not be set. */
export function writeXattrs(fd: number, xattrs: readonly Xattr[]): string[] {
  const failed: string[] = [];
  for (const { name, value } of xattrs) {
    try {
      fsx().setAttrSync(fd, name.toString('utf8'), value);
    } catch (err) {
      failed.push(`xattr ${name.toString('utf8')}: ${(err as Error).message}`);
    }
  }
  return failed;
}

export function isCode(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code;
}

// ── child processes ──────────────────────────────────────────────────────

/** Runs a coreutils command with `dirFd` as its fd 3; rejects with BULWARK_IO on failure. */
function run(cmd: string, args: string[], dirFd: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe', dirFd] });
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s.slice(0, 4096)));
    child.on('error', (err) => reject(bulwarkError('BULWARK_IO', cmd, err.message, { cause: err })));
    child.on('close', (code) => (code === 0 ? resolve() : reject(bulwarkError('BULWARK_IO', cmd, stderr.trim() || `exit code ${code}`))));
  });
}

let tmpCounter = 0;
const tmpName = (): string => `.bulwark-tmp-${process.pid}-${++tmpCounter}`;

/** Whether a name survives the trip through a UTF-8 argv string. */
export function isUtf8Clean(name: Buffer): boolean {
  return Buffer.from(name.toString('utf8'), 'utf8').equals(name);
}

async function withDir<T>(dir: Buffer, fn: (fd: number) => Promise<T>): Promise<T> {
  const handle = await fs.open(dir, C.O_RDONLY | C.O_DIRECTORY);
  try {
    return await fn(handle.fd);
  } finally {
    await handle.close();
  }
}

/** Creates a fifo or device node `name` in directory `dir` (permissions are set by the caller). */
export async function makeNode(dir: Buffer, name: Buffer, kind: 'fifo' | 'char' | 'block', major = 0, minor = 0): Promise<void> {
  const clean = isUtf8Clean(name);
  const argName = clean ? name.toString('utf8') : tmpName();
  const target = `/proc/self/fd/3/${argName}`;
  await withDir(dir, (fd) =>
    kind === 'fifo' ? run('mkfifo', ['--', target], fd) : run('mknod', ['--', target, kind === 'char' ? 'c' : 'b', String(major), String(minor)], fd),
  );
  if (!clean) await fs.rename(Buffer.concat([dir, Buffer.from(`/${argName}`)]), Buffer.concat([dir, Buffer.from('/'), name]));
}

/** One warning per process when the addon is missing and times fall back to microseconds. */
let warnedImprecise = false;

/**
 * Sets atime and mtime of entries of one directory to exact nanoseconds
 * (symlinks themselves, not their targets) with utimensat(2), one syscall
 * per entry. Names are passed as bytes, so they need not be UTF-8. Tries
 * every entry and then throws the first failure.
 *
 * Without the addon (not built on this machine) it falls back to
 * fs.lutimes, exact to about a microsecond, and emits one process warning.
 */
export async function setTimesPrecise(dir: Buffer, items: readonly { name: Buffer; mtimeNs: bigint }[]): Promise<void> {
  if (items.length === 0) return;
  const missing = nativeLoadError();
  if (missing && !warnedImprecise) {
    warnedImprecise = true;
    process.emitWarning(`${missing.message}; restored times are exact to microseconds only`, { code: missing.code });
  }
  const prefix = Buffer.concat([dir, Buffer.from('/')]);
  let first: unknown;
  for (const { name, mtimeNs } of items) {
    const target = Buffer.concat([prefix, name]);
    try {
      if (missing) lutimesSync(target, Number(mtimeNs) / 1e9, Number(mtimeNs) / 1e9);
      else utimensNs(target, mtimeNs, mtimeNs, { noFollow: true });
    } catch (err) {
      first ??= err;
    }
  }
  if (first !== undefined) throw first;
}
