/**
 * Fixtures for archive tests: a tree with every kind of file system entry
 * (and the odd names and metadata that break naive archivers), and a
 * comparison of two trees that lists every difference it finds.
 */
import { execFileSync } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import type { BigIntStats } from 'node:fs';
import fs from 'node:fs/promises';
import { createRequire } from 'node:module';

const fsx = createRequire(import.meta.url)('fs-native-extensions') as {
  listAttrsSync(fd: number): string[];
  getAttrSync(fd: number, name: string): Buffer | null;
  setAttrSync(fd: number, name: string, value: Buffer): void;
};

/** Deterministic incompressible bytes (AES-256-CTR keystream), fast enough for megabytes. */
export function streamBytes(seed: number, size: number): Buffer {
  const key = createHash('sha256').update(`tree-fixture-${seed}`).digest();
  return createCipheriv('aes-256-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(size));
}

export const isRoot = process.getuid?.() === 0;
export const INVALID_UTF8_NAME = Buffer.from([0x62, 0x61, 0x64, 0xff, 0xfe, 0x80, 0x2e, 0x62, 0x69, 0x6e]); // "bad\xff\xfe\x80.bin"
export const LONG_NAME = 'L'.repeat(251) + '.txt'; // 255 bytes
export const PRECISE_MTIME_NS = 1_600_000_000_123_456_789n;
export const SPARSE_SIZE = 100 * 1024 * 1024;

const p = (root: string, ...parts: (string | Buffer)[]): Buffer =>
  Buffer.concat([Buffer.from(root), ...parts.flatMap((x) => [Buffer.from('/'), Buffer.from(x)])]);

/** Sets an exact ns mtime (Node's utimes cannot; see client/archive/fs-meta.ts). */
export function touchNs(path: string, ns: bigint): void {
  const neg = ns < 0n;
  const a = neg ? -ns : ns;
  execFileSync('touch', ['-h', '-d', `@${neg ? '-' : ''}${a / 1_000_000_000n}.${String(a % 1_000_000_000n).padStart(9, '0')}`, '--', path]);
}

export interface FullTree {
  root: string;
  /** Whether the file system took user.* xattrs. */
  xattrs: boolean;
  /** Whether a device node could be made (needs root). */
  device: boolean;
}

/**
 * Builds under `root` (which must exist and be empty): regular files (empty,
 * small, 5 MB), empty and nested dirs, relative/absolute/dangling symlinks,
 * a file with 3 hard links, a fifo, a char device (as root), odd names
 * (space, newline, UTF-8, 255 bytes, invalid UTF-8), a 100 MB sparse file
 * with two small data regions, setuid/setgid/sticky/read-only modes, xattrs,
 * a foreign owner (as root), and exact ns mtimes (one before 1970).
 */
export async function makeFullTree(root: string): Promise<FullTree> {
  const w = (rel: (string | Buffer)[], data: string | Buffer) => fs.writeFile(p(root, ...rel), data);
  await w(['empty.txt'], '');
  await w(['small.txt'], 'hello, bulwark\n');
  await w(['big.bin'], streamBytes(1, 5 * 1000 * 1000));
  await fs.mkdir(p(root, 'dir-empty'));
  await fs.mkdir(p(root, 'nested', 'a', 'b', 'c'), { recursive: true });
  await w(['nested', 'a', 'b', 'c', 'deep.txt'], 'deep\n');
  await w(['nested', 'a', 'sibling.txt'], 'sibling\n');

  await fs.mkdir(p(root, 'links'));
  await fs.symlink('../small.txt', p(root, 'links', 'relative'));
  await fs.symlink('/etc/hostname', p(root, 'links', 'absolute'));
  await fs.symlink('does/not/exist', p(root, 'links', 'dangling'));

  await fs.mkdir(p(root, 'hard-a'));
  await fs.mkdir(p(root, 'hard-b'));
  await w(['hard-a', 'one'], streamBytes(2, 70_000));
  await fs.link(p(root, 'hard-a', 'one'), p(root, 'hard-a', 'two'));
  await fs.link(p(root, 'hard-a', 'one'), p(root, 'hard-b', 'three'));

  execFileSync('mkfifo', ['--', `${root}/fifo`]);
  let device = false;
  if (isRoot) {
    try {
      execFileSync('mknod', ['--', `${root}/null-dev`, 'c', '1', '3'], { stdio: 'ignore' });
      device = true;
    } catch {
      // containers may forbid mknod even for root
    }
  }

  await fs.mkdir(p(root, 'odd'));
  await w(['odd', 'with space'], 'space\n');
  await w(['odd', 'new\nline'], 'newline\n');
  await w(['odd', 'ünïcødé-日本.txt'], 'utf8\n');
  await w(['odd', LONG_NAME], 'long\n');
  await w(['odd', INVALID_UTF8_NAME], 'not utf8\n');
  await fs.mkdir(p(root, 'odd', Buffer.from([0x64, 0xe9])));
  await w(['odd', Buffer.from([0x64, 0xe9]), 'inside'], 'inside a latin1-named dir\n');

  const sparse = await fs.open(p(root, 'sparse.img'), 'w');
  await sparse.write(streamBytes(3, 4096), 0, 4096, 10 * 1024 * 1024);
  await sparse.write(streamBytes(4, 65536), 0, 65536, 70 * 1024 * 1024 + 4096);
  await sparse.truncate(SPARSE_SIZE);
  await sparse.close();

  await fs.mkdir(p(root, 'modes'));
  await w(['modes', 'setuid'], '#!/bin/sh\n');
  await fs.chmod(p(root, 'modes', 'setuid'), 0o4755);
  await w(['modes', 'private'], 'secret\n');
  await fs.chmod(p(root, 'modes', 'private'), 0o600);
  await fs.mkdir(p(root, 'modes', 'sticky'));
  await fs.chmod(p(root, 'modes', 'sticky'), 0o1777);
  await fs.mkdir(p(root, 'modes', 'setgid'));
  await fs.chmod(p(root, 'modes', 'setgid'), 0o2755);
  await fs.mkdir(p(root, 'modes', 'readonly'));
  await w(['modes', 'readonly', 'inside.txt'], 'in a read-only dir\n');
  await fs.chmod(p(root, 'modes', 'readonly'), 0o555);
  if (isRoot) await fs.lchown(p(root, 'modes', 'private'), 1234, 5678);

  let xattrs = true;
  try {
    const fh = await fs.open(p(root, 'small.txt'), 'r');
    fsx.setAttrSync(fh.fd, 'user.bulwark', Buffer.from('file value'));
    fsx.setAttrSync(fh.fd, 'user.binary', Buffer.from([0, 1, 2, 255]));
    await fh.close();
    const dh = await fs.open(p(root, 'nested'), 'r');
    fsx.setAttrSync(dh.fd, 'user.dir', Buffer.from('dir value'));
    await dh.close();
  } catch {
    xattrs = false;
  }

  await w(['precise.txt'], 'exact mtime\n');
  touchNs(`${root}/precise.txt`, PRECISE_MTIME_NS);
  await w(['ancient.txt'], 'before 1970\n');
  touchNs(`${root}/ancient.txt`, -86_400_250_000_000n);
  touchNs(`${root}/links/relative`, 1_500_000_000_987_654_321n);
  touchNs(`${root}/nested/a/b`, 1_400_000_000_000_000_001n);
  return { root, xattrs, device };
}

/** One xattr of a file or directory, or null. */
export async function xattrOf(path: string, name: string): Promise<Buffer | null> {
  const fh = await fs.open(path, 'r');
  try {
    return fsx.getAttrSync(fh.fd, name);
  } finally {
    await fh.close();
  }
}

// ── comparison ───────────────────────────────────────────────────────────

export interface CompareOptions {
  /** Skip the two roots' own mode/mtime (a pattern restore leaves the target alone). */
  ignoreRootMeta?: boolean;
  /** Compare uid/gid (default: when running as root). */
  owners?: boolean;
}

interface Node {
  st: BigIntStats;
  kind: string;
}

async function walk(root: Buffer, rel: Buffer, out: Map<string, Node>): Promise<void> {
  const abs = rel.length ? Buffer.concat([root, Buffer.from('/'), rel]) : root;
  const st = await fs.lstat(abs, { bigint: true });
  const kind = st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : st.isFIFO() ? 'fifo'
    : st.isCharacterDevice() ? 'char' : st.isBlockDevice() ? 'block' : 'other';
  out.set(rel.toString('latin1'), { st, kind });
  if (kind !== 'dir') return;
  for (const name of await fs.readdir(abs, { encoding: 'buffer' })) {
    await walk(root, rel.length ? Buffer.concat([rel, Buffer.from('/'), name]) : name, out);
  }
}

const bufA = Buffer.allocUnsafe(4 * 1024 * 1024);
const bufB = Buffer.allocUnsafe(4 * 1024 * 1024);

/** Byte offset of the first difference between two files, or -1 (memcmp is much faster than hashing). */
async function firstDifference(a: Buffer, b: Buffer): Promise<number> {
  const fa = await fs.open(a, 'r');
  const fb = await fs.open(b, 'r');
  try {
    for (let pos = 0; ; ) {
      const [ra, rb] = await Promise.all([fa.read(bufA, 0, bufA.length, pos), fb.read(bufB, 0, bufB.length, pos)]);
      const n = Math.min(ra.bytesRead, rb.bytesRead);
      if (!bufA.subarray(0, n).equals(bufB.subarray(0, n))) {
        let i = 0;
        while (bufA[i] === bufB[i]) i++;
        return pos + i;
      }
      if (ra.bytesRead !== rb.bytesRead) return pos + n;
      if (n === 0) return -1;
      pos += n;
    }
  } finally {
    await fa.close();
    await fb.close();
  }
}

async function xattrsOf(path: Buffer, kind: string): Promise<string> {
  if (kind !== 'file' && kind !== 'dir') return '';
  const fh = await fs.open(path, 'r');
  try {
    return fsx.listAttrsSync(fh.fd).sort().map((n) => `${n}=${fsx.getAttrSync(fh.fd, n)?.toString('hex')}`).join(',');
  } finally {
    await fh.close();
  }
}

/** Every difference between two trees: kinds, content, modes, owners, ns mtimes, symlink targets, xattrs, hard-link groups. */
export async function compareTrees(a: string, b: string, opts: CompareOptions = {}): Promise<string[]> {
  const owners = opts.owners ?? isRoot;
  const ra = Buffer.from(a);
  const rb = Buffer.from(b);
  const ta = new Map<string, Node>();
  const tb = new Map<string, Node>();
  await walk(ra, Buffer.alloc(0), ta);
  await walk(rb, Buffer.alloc(0), tb);
  const diffs: string[] = [];
  const show = (k: string) => JSON.stringify(Buffer.from(k, 'latin1').toString('utf8'));
  for (const k of ta.keys()) if (!tb.has(k)) diffs.push(`${show(k)}: only in ${a}`);
  for (const k of tb.keys()) if (!ta.has(k)) diffs.push(`${show(k)}: only in ${b}`);
  for (const [k, na] of ta) {
    const nb = tb.get(k);
    if (!nb) continue;
    const rel = Buffer.from(k, 'latin1');
    const pa = rel.length ? Buffer.concat([ra, Buffer.from('/'), rel]) : ra;
    const pb = rel.length ? Buffer.concat([rb, Buffer.from('/'), rel]) : rb;
    const d = (what: string, x: unknown, y: unknown) => {
      if (x !== y) diffs.push(`${show(k)}: ${what} ${String(x)} != ${String(y)}`);
    };
    d('kind', na.kind, nb.kind);
    if (na.kind !== nb.kind) continue;
    const isRootEntry = rel.length === 0;
    if (!(isRootEntry && opts.ignoreRootMeta)) {
      if (na.kind !== 'symlink') d('mode', (na.st.mode & 0o7777n).toString(8), (nb.st.mode & 0o7777n).toString(8));
      d('mtimeNs', na.st.mtimeNs, nb.st.mtimeNs);
      if (owners) d('owner', `${na.st.uid}:${na.st.gid}`, `${nb.st.uid}:${nb.st.gid}`);
    }
    if (na.kind === 'file') {
      d('size', na.st.size, nb.st.size);
      d('first content difference at', await firstDifference(pa, pb), -1);
    }
    if (na.kind === 'symlink') d('target', (await fs.readlink(pa, { encoding: 'buffer' })).toString('hex'), (await fs.readlink(pb, { encoding: 'buffer' })).toString('hex'));
    if (na.kind === 'char' || na.kind === 'block') d('rdev', na.st.rdev, nb.st.rdev);
    d('xattrs', await xattrsOf(pa, na.kind), await xattrsOf(pb, nb.kind));
  }
  const groups = (t: Map<string, Node>) => {
    const byIno = new Map<bigint, string[]>();
    for (const [k, n] of t) if (n.kind === 'file' && n.st.nlink > 1n) byIno.set(n.st.ino, [...(byIno.get(n.st.ino) ?? []), k]);
    return [...byIno.values()].map((g) => g.sort().map(show).join(' = ')).sort();
  };
  const ga = groups(ta);
  const gb = groups(tb);
  if (JSON.stringify(ga) !== JSON.stringify(gb)) diffs.push(`hard-link groups differ: ${JSON.stringify(ga)} vs ${JSON.stringify(gb)}`);
  return diffs;
}
