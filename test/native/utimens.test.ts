import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { futimensNs, nativeLoadError, utimensNs } from '../../native/index.ts';
import { setTimesPrecise } from '../../client/archive/fs-meta.ts';

let tmp: string;
let n = 0;
/** A fresh empty file (so each test starts from the creation time, not from another test's result). */
const freshFile = (): string => {
  const p = path.join(tmp, `f${++n}`);
  fs.writeFileSync(p, '');
  return p;
};
const times = (p: string | Buffer) => {
  const st = fs.lstatSync(p, { bigint: true });
  return { atimeNs: st.atimeNs, mtimeNs: st.mtimeNs };
};

/** Not whole microseconds (fs.utimes cannot set these) and beyond a double's precision. */
const A_NS = 1_700_000_000_123_456_789n;
const M_NS = 1_600_000_000_987_654_321n;

before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bulwark-'));
});

after(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('utimensNs', () => {
  test('the addon is built and loaded', () => {
    assert.equal(nativeLoadError(), undefined);
  });

  test('sets atime and mtime to the exact nanosecond, by string or Buffer path', () => {
    const p = freshFile();
    utimensNs(p, A_NS, M_NS, { noFollow: false });
    assert.deepEqual(times(p), { atimeNs: A_NS, mtimeNs: M_NS });
    const odd = Buffer.concat([Buffer.from(`${tmp}/`), Buffer.from([0x62, 0xff, 0xfe, 0x80])]); // not UTF-8
    fs.writeFileSync(odd, '');
    utimensNs(odd, M_NS, A_NS, { noFollow: true });
    assert.deepEqual(times(odd), { atimeNs: M_NS, mtimeNs: A_NS });
  });

  test('noFollow sets a symlink\'s own times and leaves its target alone', () => {
    const target = freshFile();
    utimensNs(target, 1_000_000_000_000_000_001n, 1_000_000_000_000_000_001n, { noFollow: false });
    const link = path.join(tmp, 'link');
    fs.symlinkSync(path.basename(target), link);
    utimensNs(link, A_NS, M_NS, { noFollow: true });
    assert.deepEqual(times(link), { atimeNs: A_NS, mtimeNs: M_NS });
    assert.deepEqual(times(target), { atimeNs: 1_000_000_000_000_000_001n, mtimeNs: 1_000_000_000_000_000_001n });
    utimensNs(link, 42n, 43n, { noFollow: false }); // follows: the target changes, the link does not
    assert.deepEqual(times(target), { atimeNs: 42n, mtimeNs: 43n });
    assert.equal(times(link).mtimeNs, M_NS); // (following a link may update its atime: the kernel reads it)
  });

  test('times before 1970 (negative seconds, nanoseconds normalised to 0..999999999)', () => {
    const p = freshFile();
    for (const ns of [-1n, -86_400_250_000_000n, -1_000_000_000n, -999_999_999n, -631_152_000_000_000_007n /* 1950 (ext4 clamps before 1901-12-13) */]) {
      utimensNs(p, ns, ns, { noFollow: true });
      assert.deepEqual(times(p), { atimeNs: ns, mtimeNs: ns }, String(ns));
    }
  });

  test('a failing call throws a Node-style errno error with the path', () => {
    const missing = path.join(tmp, 'no', 'such');
    assert.throws(() => utimensNs(missing, 1n, 2n, { noFollow: true }), (e: NodeJS.ErrnoException) =>
      e.code === 'ENOENT' && e.errno === -os.constants.errno.ENOENT && e.syscall === 'utimensat' && e.path === missing && e.message.includes(`'${missing}'`));
    const file = freshFile();
    assert.throws(() => utimensNs(`${file}/below-a-file`, 1n, 2n, { noFollow: false }), { code: 'ENOTDIR' });
  });

  test('validates its arguments before calling the addon', () => {
    const p = freshFile();
    const before = times(p);
    const bad: [string, () => void][] = [
      ['number time', () => utimensNs(p, 1 as unknown as bigint, 2n, { noFollow: true })],
      ['time above int64', () => utimensNs(p, 1n, 2n ** 63n, { noFollow: true })],
      ['time below int64', () => utimensNs(p, -(2n ** 63n) - 1n, 2n, { noFollow: true })],
      ['empty path', () => utimensNs('', 1n, 2n, { noFollow: true })],
      ['NUL in a string path', () => utimensNs(`${p}\0x`, 1n, 2n, { noFollow: true })],
      ['NUL in a Buffer path', () => utimensNs(Buffer.from(`${p}\0x`), 1n, 2n, { noFollow: true })],
      ['path of the wrong type', () => utimensNs(7 as unknown as string, 1n, 2n, { noFollow: true })],
      ['missing options', () => utimensNs(p, 1n, 2n, undefined as unknown as { noFollow: boolean })],
      ['negative fd', () => futimensNs(-1, 1n, 2n)],
      ['fractional fd', () => futimensNs(1.5, 1n, 2n)],
    ];
    for (const [what, fn] of bad) assert.throws(fn, { code: 'BULWARK_INVALID_ARGUMENT' }, what);
    assert.deepEqual(times(p), before); // nothing reached the file
  });
});

describe('futimensNs', () => {
  test('sets the times of an open file to the exact nanosecond, before 1970 too', () => {
    const p = freshFile();
    const fd = fs.openSync(p, 'r+');
    try {
      futimensNs(fd, A_NS, M_NS);
      assert.deepEqual(times(p), { atimeNs: A_NS, mtimeNs: M_NS });
      futimensNs(fd, -3n, -1_500_000_000n);
      assert.deepEqual(times(p), { atimeNs: -3n, mtimeNs: -1_500_000_000n });
    } finally {
      fs.closeSync(fd);
    }
  });

  test('a descriptor that is not open gives EBADF', () => {
    assert.throws(() => futimensNs(0x7ffffff0, 1n, 2n), (e: NodeJS.ErrnoException) =>
      e.code === 'EBADF' && e.errno === -os.constants.errno.EBADF && e.syscall === 'futimens');
  });
});

describe('setTimesPrecise (client/archive/fs-meta.ts) over the addon', () => {
  test('sets atime and mtime of each named entry, symlinks themselves, names as bytes', async () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'dir-'));
    const odd = Buffer.from([0x62, 0x61, 0x64, 0xff]);
    fs.writeFileSync(Buffer.concat([Buffer.from(`${dir}/`), odd]), '');
    fs.writeFileSync(`${dir}/target`, '');
    utimensNs(`${dir}/target`, 5n, 5n, { noFollow: true });
    fs.symlinkSync('target', `${dir}/link`);
    await setTimesPrecise(Buffer.from(dir), [
      { name: odd, mtimeNs: M_NS },
      { name: Buffer.from('link'), mtimeNs: -7n },
    ]);
    assert.deepEqual(times(Buffer.concat([Buffer.from(`${dir}/`), odd])), { atimeNs: M_NS, mtimeNs: M_NS });
    assert.deepEqual(times(`${dir}/link`), { atimeNs: -7n, mtimeNs: -7n });
    assert.deepEqual(times(`${dir}/target`), { atimeNs: 5n, mtimeNs: 5n });
  });

  test('tries every entry, then rejects with the first failure', async () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'dir-'));
    fs.writeFileSync(`${dir}/b`, '');
    await assert.rejects(
      setTimesPrecise(Buffer.from(dir), [{ name: Buffer.from('a'), mtimeNs: M_NS }, { name: Buffer.from('b'), mtimeNs: M_NS }]),
      (e: NodeJS.ErrnoException) => e.code === 'ENOENT' && e.path === `${dir}/a`,
    );
    assert.equal(times(`${dir}/b`).mtimeNs, M_NS);
  });
});
