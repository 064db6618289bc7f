/**
 * Runs write batches (layout in write-batch.ts): creates files and symlinks
 * with synchronous system calls, one op after the other. The same code runs
 * in the write pool's worker threads and inline on the extractor's thread,
 * so both ways restore identically.
 *
 * Files are created O_EXCL | O_NOFOLLOW (whatever was at the path was
 * removed by the extractor), written with positioned writes so holes stay
 * holes, cut to size with ftruncate (trailing holes), and get their xattrs,
 * owner, mode (after chown, which clears setuid/setgid) and exact times
 * through their descriptor before it is closed. A file is created with its
 * final mode where the extractor found that safe (createMode), and owner
 * and mode are set only where creation did not already get them right.
 */
import fs, { constants as C } from 'node:fs';
import { bulwarkError } from '../../errors.ts';
import { futimensNs, nativeLoadError, utimensNs } from '../../native/index.ts';
import { writeXattrs } from './fs-meta.ts';
import {
  type Batch, type BatchResult, OP_BEGIN, OP_CONTINUE, OP_DATA, OP_END, OP_REF, OP_SYMLINK, type WriteSettings,
} from './write-batch.ts';
import { serializeError } from '../worker-error.ts';

const CREATE = C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW;
const seconds = (ns: bigint): number => Number(ns) / 1e9;

export class BatchRunner {
  /** The file being written; a batch may leave it open for the next one. */
  private fd = -1;
  /** End of the data written to it so far. */
  private end = 0;
  private failed = false;
  private readonly native = nativeLoadError() === undefined;

  /** Runs every op; stops at the first failure, which it reports (and then refuses further batches until reset). */
  run(batch: Batch, settings: WriteSettings): BatchResult {
    const warnings: [number, string][] = [];
    if (this.failed) return { warnings, error: { message: 'restore stopped after an earlier failure' } };
    const b = Buffer.from(batch.data, 0, batch.length);
    const shared = batch.shared.map((sab) => Buffer.from(sab));
    let entry = -1;
    let o = 0;
    const bytes = (): Buffer => {
      const n = b.readUInt32LE(o);
      o += 4 + n;
      return b.subarray(o - n, o);
    };
    try {
      while (o < b.length) {
        const op = b[o++];
        if (op === OP_DATA) {
          const pos = b.readDoubleLE(o);
          const n = b.readUInt32LE(o + 8);
          o += 12;
          this.write(b, o, n, pos);
          o += n;
        } else if (op === OP_REF) {
          const pos = b.readDoubleLE(o);
          const from = shared[b.readUInt16LE(o + 8)];
          const start = b.readUInt32LE(o + 10);
          const n = b.readUInt32LE(o + 14);
          o += 18;
          if (!from || start + n > from.length) throw bulwarkError('BULWARK_INTERNAL', 'restore write batch refers outside its shared buffers');
          this.write(from, start, n, pos);
        } else if (op === OP_BEGIN) {
          entry++;
          this.closeOpen();
          const mode = b.readUInt16LE(o);
          o += 2;
          this.fd = fs.openSync(bytes(), CREATE, mode);
          this.end = 0;
        } else if (op === OP_END) {
          const size = b.readDoubleLE(o);
          const mode = b.readUInt16LE(o + 8);
          const uid = b.readUInt32LE(o + 10);
          const gid = b.readUInt32LE(o + 14);
          const mtimeNs = b.readBigInt64LE(o + 18);
          const count = b.readUInt16LE(o + 26);
          o += 28;
          const xattrs = [];
          for (let k = 0; k < count; k++) xattrs.push({ name: bytes(), value: bytes() });
          const at = entry;
          this.finishFile({ size, mode, uid, gid, mtimeNs, xattrs }, settings, (m) => warnings.push([at, m]));
        } else if (op === OP_SYMLINK) {
          entry++;
          const path = bytes();
          const target = bytes();
          const uid = b.readUInt32LE(o);
          const gid = b.readUInt32LE(o + 4);
          const mtimeNs = b.readBigInt64LE(o + 8);
          o += 16;
          this.symlink(path, target, uid, gid, mtimeNs, settings);
        } else if (op === OP_CONTINUE) {
          entry++;
          if (this.fd < 0) throw bulwarkError('BULWARK_INTERNAL', 'restore write batch continues a file that is not open');
        } else {
          throw bulwarkError('BULWARK_INTERNAL', `restore write batch has an unknown op ${op}`);
        }
      }
    } catch (err) {
      this.failed = true;
      this.closeOpen();
      return { warnings, error: serializeError(err) };
    }
    return { warnings };
  }

  /** Ends a run: closes a file an abandoned run left open, forgets a failure. */
  reset(): void {
    this.closeOpen();
    this.failed = false;
  }

  private closeOpen(): void {
    const fd = this.fd;
    this.fd = -1;
    if (fd >= 0) fs.closeSync(fd);
  }

  private write(b: Buffer, off: number, n: number, pos: number): void {
    for (let stop = off + n; off < stop; ) {
      const k = fs.writeSync(this.fd, b, off, stop - off, pos);
      off += k;
      pos += k;
    }
    if (pos > this.end) this.end = pos;
  }

  private finishFile(
    e: { size: number; mode: number; uid: number; gid: number; mtimeNs: bigint; xattrs: { name: Buffer; value: Buffer }[] },
    settings: WriteSettings,
    warn: (m: string) => void,
  ): void {
    const fd = this.fd;
    this.fd = -1;
    try {
      // Trailing holes exist only through the file's size.
      if (this.end < e.size) fs.ftruncateSync(fd, e.size);
      if (settings.xattrs) for (const m of writeXattrs(fd, e.xattrs)) warn(m);
      // Owner and mode only where creation did not get them right already (a
      // stat costs less than an inode update, which the journal must carry).
      const st = fs.fstatSync(fd);
      const chown = settings.owner && (st.uid !== e.uid || st.gid !== e.gid);
      if (chown) fs.fchownSync(fd, e.uid, e.gid);
      if (chown || (st.mode & 0o7777) !== e.mode) fs.fchmodSync(fd, e.mode); // after chown, which clears setuid/setgid
      if (settings.precise && this.native) futimensNs(fd, e.mtimeNs, e.mtimeNs);
      else fs.futimesSync(fd, seconds(e.mtimeNs), seconds(e.mtimeNs));
    } finally {
      fs.closeSync(fd);
    }
  }

  private symlink(path: Buffer, target: Buffer, uid: number, gid: number, mtimeNs: bigint, settings: WriteSettings): void {
    fs.symlinkSync(target, path);
    if (settings.owner) {
      const st = fs.lstatSync(path);
      if (st.uid !== uid || st.gid !== gid) fs.lchownSync(path, uid, gid);
    }
    if (settings.precise && this.native) utimensNs(path, mtimeNs, mtimeNs, { noFollow: true });
    else fs.lutimesSync(path, seconds(mtimeNs), seconds(mtimeNs));
  }
}
