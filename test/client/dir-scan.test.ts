import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { scanDirectory } from '../../client/archive/dir-scan.ts';
import { utimensNs } from '../../native/index.ts';
import { makeFullTree } from '../helpers/tree-fixtures.ts';

const FIELDS = ['mode', 'uid', 'gid', 'nlink', 'size', 'ino', 'dev', 'rdev', 'mtimeNs', 'ctimeNs'] as const;
const KINDS = ['isFile', 'isDirectory', 'isSymbolicLink', 'isFIFO', 'isCharacterDevice', 'isBlockDevice', 'isSocket'] as const;

let tmp: string;
before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bulwark-scan-'));
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Every directory of a tree, as absolute path bytes. */
function dirsOf(root: string): Buffer[] {
  const out = [Buffer.from(root)];
  for (let i = 0; i < out.length; i++) {
    for (const name of fs.readdirSync(out[i]!, { encoding: 'buffer' })) {
      const p = Buffer.concat([out[i]!, Buffer.from('/'), name]);
      if (fs.lstatSync(p).isDirectory()) out.push(p);
    }
  }
  return out;
}

describe('scanDirectory', () => {
  test('the native scan gives what readdir and lstat give: names in byte order, every field and kind', async () => {
    const root = path.join(tmp, 'tree');
    fs.mkdirSync(root);
    await makeFullTree(root);
    // A name with bytes that are not UTF-8, beside one that sorts after it as UTF-16 would not.
    fs.writeFileSync(Buffer.from(`${root}/\xff-latin1`, 'latin1'), 'x');
    fs.writeFileSync(`${root}/\u{1f600}-emoji`, 'y');
    let entries = 0;
    for (const dir of dirsOf(root)) {
      const native = scanDirectory(dir);
      const plain = scanDirectory(dir, { native: false });
      assert.deepEqual(native.map((e) => e.name.toString('hex')), plain.map((e) => e.name.toString('hex')), 'same names, same order');
      const sorted = [...plain].map((e) => e.name).sort(Buffer.compare).map((b) => b.toString('hex'));
      assert.deepEqual(native.map((e) => e.name.toString('hex')), sorted, 'Buffer.compare order');
      for (let i = 0; i < native.length; i++) {
        const a = native[i]!.stat!;
        const b = fs.lstatSync(Buffer.concat([dir, Buffer.from('/'), native[i]!.name]), { bigint: true });
        for (const f of FIELDS) assert.equal(a[f], b[f], `${native[i]!.name.toString()} ${f}`);
        for (const k of KINDS) assert.equal(a[k](), b[k](), `${native[i]!.name.toString()} ${k}`);
        entries++;
      }
    }
    assert.ok(entries > 10, `only ${entries} entries`);
  });

  test('times before 1970 and in the far future come back exact to the nanosecond', () => {
    const dir = path.join(tmp, 'times');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'old'), '');
    fs.writeFileSync(path.join(dir, 'new'), '');
    utimensNs(path.join(dir, 'old'), -86400_500_000_001n, -86400_500_000_001n, { noFollow: true });
    utimensNs(path.join(dir, 'new'), 4102444800_250_000_007n, 4102444800_250_000_007n, { noFollow: true });
    const [neu, old] = scanDirectory(Buffer.from(dir));
    assert.equal(old!.stat!.mtimeNs, fs.lstatSync(path.join(dir, 'old'), { bigint: true }).mtimeNs);
    assert.equal(old!.stat!.mtimeNs, -86400_500_000_001n);
    assert.equal(neu!.stat!.mtimeNs, 4102444800_250_000_007n);
  });

  test('a directory that cannot be read is a Node-style fs error, as readdir gives', () => {
    const file = path.join(tmp, 'plain-file');
    fs.writeFileSync(file, '');
    const link = path.join(tmp, 'link-to-dir');
    fs.symlinkSync(tmp, link);
    const cases: [string, RegExp][] = [
      [path.join(tmp, 'missing'), /^ENOENT: no such file or directory, scandir '.*missing'$/],
      [file, /^ENOTDIR: not a directory, scandir/],
      [link, /^(ELOOP|ENOTDIR): .*, scandir/], // never followed: the walk lstat'ed it as a directory
    ];
    for (const [p, want] of cases) {
      assert.throws(() => scanDirectory(Buffer.from(p)), (err: NodeJS.ErrnoException) => {
        assert.match(err.message, want);
        assert.equal(err.syscall, 'scandir');
        return true;
      });
    }
    assert.throws(() => scanDirectory(Buffer.from('')), /path/);
  });
});
