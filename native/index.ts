/**
 * TypeScript face of bulwark_native (native/src/*.cc): validates every
 * argument, then calls the flat binding. The addon is loaded once, inside a
 * try, so a machine without a build still imports this module: callers ask
 * `nativeLoadError()` and pick a fallback, and the functions below throw
 * BULWARK_NATIVE_MISSING.
 *
 * System call failures come back shaped like Node's fs errors: `code`
 * (libuv's errno name, e.g. 'ENOENT'), `errno` (negative, as in Node),
 * `syscall`, `path`, and a message with the path in it.
 */
import { createRequire } from 'node:module';
import { type BulwarkError, bulwarkError } from '../errors.ts';

/** The binding's exports (src/addon.cc). */
interface Binding {
  utimens(path: Buffer | string, atimeNs: bigint, mtimeNs: bigint, nofollow: boolean): void;
  futimens(fd: number, atimeNs: bigint, mtimeNs: bigint): void;
  buzhashScan(buf: Uint8Array, tail: Uint8Array, start: number, end: number, state: Int32Array, d: number, table: Uint32Array): number;
  scanDir(path: Buffer | string): Buffer;
  armExitWatchdog(ms: number, code: number): void;
}

let binding: Binding | undefined;
let loadError: BulwarkError | undefined;
try {
  binding = createRequire(import.meta.url)('./binding.cjs') as Binding;
} catch (err) {
  loadError = bulwarkError('BULWARK_NATIVE_MISSING', 'bulwark_native (native/build/Release/bulwark_native.node)', `${(err as Error).message}; build it with \`npm run build:native\``, { cause: err });
}

/** Why the addon did not load, or undefined when it did. */
export function nativeLoadError(): BulwarkError | undefined {
  return loadError;
}

function native(): Binding {
  if (binding === undefined) throw loadError!;
  return binding;
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

function checkNs(what: string, ns: unknown): asserts ns is bigint {
  if (typeof ns !== 'bigint') throw bulwarkError('BULWARK_INVALID_ARGUMENT', what, `${typeof ns} (expected a bigint of nanoseconds)`);
  if (ns < INT64_MIN || ns > INT64_MAX) throw bulwarkError('BULWARK_INVALID_ARGUMENT', what, `${ns} ns (outside int64: years 1677 to 2262)`);
}

function checkPath(path: unknown): asserts path is Buffer | string {
  if (typeof path !== 'string' && !Buffer.isBuffer(path)) throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'path', `${typeof path} (expected a Buffer or a string)`);
  if (path.length === 0) throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'path', 'empty');
  if (path.includes('\0')) throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'path', 'contains a NUL byte');
}

/**
 * Sets atime and mtime to exact nanoseconds (utimensat(2)); times before
 * 1970 are negative. With `noFollow` a symlink gets its own times, not its
 * target's. A single syscall, so synchronous (see src/times.cc for why).
 */
export function utimensNs(path: Buffer | string, atimeNs: bigint, mtimeNs: bigint, opts: { noFollow: boolean }): void {
  checkPath(path);
  checkNs('atimeNs', atimeNs);
  checkNs('mtimeNs', mtimeNs);
  if (typeof opts?.noFollow !== 'boolean') throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'opts.noFollow', `${typeof opts?.noFollow} (expected a boolean)`);
  native().utimens(path, atimeNs, mtimeNs, opts.noFollow);
}

/** Sets atime and mtime of an open file to exact nanoseconds (futimens(2)). */
export function futimensNs(fd: number, atimeNs: bigint, mtimeNs: bigint): void {
  if (!Number.isInteger(fd) || fd < 0 || fd > 0x7fffffff) throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'fd', `${String(fd)} (expected a non-negative integer)`);
  checkNs('atimeNs', atimeNs);
  checkNs('mtimeNs', mtimeNs);
  native().futimens(fd, atimeNs, mtimeNs);
}

/**
 * The dynamic chunker's scan in C++ (src/buzhash.cc), or undefined without
 * the addon. Same contract as scanRolling in client/chunker/dynamic-chunker.ts:
 * rolls buf[start..end) into state[0] and returns the index just past the
 * first cut, or -1. Not wrapped in checks here: it runs once per input
 * buffer in the hottest loop of a backup, and the C++ side checks types
 * and bounds itself (a TypeError or RangeError, never a bad read).
 */
export const buzhashScan: Binding['buzhashScan'] | undefined = binding?.buzhashScan;

/**
 * A directory's entries sorted by name bytes, each with its lstat, packed
 * (layout in src/scandir.cc; client/archive/dir-scan.ts reads it). Throws
 * a Node-style fs error (syscall 'scandir') when the directory cannot be
 * opened or read, and BULWARK_NATIVE_MISSING without the addon.
 */
export function scanDirPacked(path: Buffer | string): Buffer {
  checkPath(path);
  return native().scanDir(path);
}

/**
 * Ends the process with `_exit(code)` after `ms` milliseconds, whatever its
 * main thread is doing (src/exit-watchdog.cc): armed by a process about to
 * exit, against Node 20 hanging in its own exit (nodejs/node#54918). A
 * normal exit before then is not delayed. Arming again keeps the first.
 */
export function armExitWatchdog(ms: number, code: number): void {
  if (!Number.isSafeInteger(ms) || ms < 0) throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'watchdog delay', `${ms} (whole milliseconds, at least 0)`);
  if (!Number.isInteger(code) || code < 0 || code > 255) throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'exit code', `${code} (0 to 255)`);
  native().armExitWatchdog(ms, code);
}
