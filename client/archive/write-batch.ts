/**
 * Batches of file-creation work for a restore, built on the extractor's
 * thread and run elsewhere (write-exec.ts: in a worker of write-pool.ts, or
 * inline). A batch is one buffer of ops with their bytes inline, so handing
 * it to a worker is one message with one transferred ArrayBuffer: nothing
 * for structured clone to walk, and no Buffer views (cloning a view copies
 * the whole chunk buffer it points into).
 *
 * In-memory layout (never stored; integers little endian):
 *
 *   BEGIN    1 ‖ createMode u16 ‖ pathLen u32 ‖ path   create the file (O_EXCL, O_NOFOLLOW)
 *   DATA     2 ‖ pos f64 ‖ len u32 ‖ bytes        positioned write into the open file
 *   END      3 ‖ size f64 ‖ mode u16 ‖ uid u32 ‖ gid u32 ‖ mtimeNs i64 ‖ n u16
 *              ‖ n × (nameLen u32 ‖ name ‖ valueLen u32 ‖ value)
 *                                                size (trailing holes), xattrs, owner, mode, times, close
 *   SYMLINK  4 ‖ pathLen u32 ‖ path ‖ targetLen u32 ‖ target ‖ uid u32 ‖ gid u32 ‖ mtimeNs i64
 *   CONTINUE 5                                   the file left open by the previous batch goes on
 *   REF      6 ‖ pos f64 ‖ shared u16 ‖ offset u32 ‖ len u32
 *                                                positioned write of bytes [offset, offset + len) of
 *                                                the batch's shared buffer number `shared`
 *
 * REF is how content that sits in a ChunkArena slot (a decoded chunk in
 * shared memory) is written without copying it into the batch: the batch
 * carries the slot's SharedArrayBuffer and holds a reference to the slot
 * until the batch has run (WriteRun.release).
 *
 * (f64 holds every integer below 2^53 exactly.) BEGIN, SYMLINK and CONTINUE
 * each start an entry; warnings name the entry by its index in the batch.
 * A file bigger than a batch continues in the next ones (`continues`),
 * which must run on the same executor.
 */
import type { ArenaSlot, ChunkArena } from '../chunk-arena.ts';
import type { SerializedError } from '../worker-error.ts';
import type { Xattr } from './format.ts';

export const OP_BEGIN = 1;
export const OP_DATA = 2;
export const OP_END = 3;
export const OP_SYMLINK = 4;
export const OP_CONTINUE = 5;
export const OP_REF = 6;

/** Per-run settings every executor needs. */
export interface WriteSettings {
  /** chown files and symlinks to their archived owner. */
  readonly owner: boolean;
  /** Nanosecond times through the native addon (else microseconds). */
  readonly precise: boolean;
  readonly xattrs: boolean;
}

export interface Batch {
  readonly data: ArrayBuffer;
  /** Bytes of `data` in use. */
  readonly length: number;
  /** The last file is still open: the next batch must go to the same executor. */
  readonly continues: boolean;
  /** The buffers REF ops write from. */
  readonly shared: readonly SharedArrayBuffer[];
}

/** A batch plus what only the building side needs. */
export interface BuiltBatch {
  readonly batch: Batch;
  /** The archive path of each entry (for warnings). */
  readonly paths: readonly Buffer[];
  /** Ids of the directories its first and last entries are in (see BatchBuilder.enterDir). */
  readonly firstDir: number;
  readonly lastDir: number;
  /** Arena slots the batch holds a reference to (one per shared buffer), until it has run. */
  readonly slots: readonly ArenaSlot[];
}

/** What running a batch reports back. */
export interface BatchResult {
  /** [entry index, message] for xattrs that could not be set. */
  readonly warnings: [number, string][];
  /** The first failure; ops after it were not run. */
  readonly error?: SerializedError;
}

export const DEFAULT_BATCH_BYTES = 4 * 1024 * 1024;
/** Entries per batch at most, so one batch stays a short piece of work. */
const MAX_ENTRIES = 1024;
/** Entries a batch needs before it ends at a directory's end (few files per message would cost more than they gain). */
const MIN_ENTRIES_AT_CUT = 128;
const DATA_HEAD = 13;
const REF_BYTES = 19;
const END_HEAD = 29;
/** Content pieces at least this long are referred to (REF) where they lie in an arena slot; shorter ones are copied. */
const REF_MIN = 16 * 1024;
/** A batch ends once it refers to this much (it keeps those slots from being reused until it has run). */
const MAX_REF_BYTES = 16 * 1024 * 1024;

export interface FileEndMeta {
  readonly size: number;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly mtimeNs: bigint;
  readonly xattrs: readonly Xattr[];
}

/**
 * Builds batches. Calls are synchronous; a batch that fills up is queued
 * (take it with takeReady) and a new one begun, so the caller decides when
 * to wait for the executors.
 */
export class BatchBuilder {
  private buf: Buffer;
  private len = 0;
  private paths: Buffer[] = [];
  /** Archive path of the file open in this batch, if any. */
  private open: Buffer | undefined;
  private dir = 0;
  private firstDir = 0;
  private readonly ready: BuiltBatch[] = [];
  private readonly spare: ArrayBuffer[] = [];
  private shared: SharedArrayBuffer[] = [];
  private slots: ArenaSlot[] = [];
  private refBytes = 0;

  /** With an arena, content in its slots is referred to rather than copied. */
  constructor(private readonly size = DEFAULT_BATCH_BYTES, private readonly arena?: ChunkArena) {
    this.buf = Buffer.from(new ArrayBuffer(size));
  }

  /**
   * The entries that follow are in directory `id`. A batch well under way
   * ends where a directory does, so that the next one starts in a directory
   * of its own and may run beside it (write-pool.ts keeps a directory's
   * batches on one thread: two threads creating files in one directory
   * mostly wait for each other).
   */
  enterDir(id: number): void {
    if (id === this.dir) return;
    if (this.paths.length >= MIN_ENTRIES_AT_CUT || this.len >= this.size / 4) this.flush();
    this.dir = id;
    if (this.len === 0) this.firstDir = id;
  }

  /** Batches complete and waiting to be run. */
  get pending(): number {
    return this.ready.length;
  }

  takeReady(): BuiltBatch[] {
    return this.ready.splice(0);
  }

  /** A buffer back from an executor, to be filled again. */
  recycle(data: ArrayBuffer): void {
    if (data.byteLength === this.size && this.spare.length < 8) this.spare.push(data);
  }

  /** `built` has run: the slots it referred to may be reused. */
  release(built: BuiltBatch): void {
    for (const slot of built.slots) this.arena!.release(slot);
  }

  /** Starts a file, created with `createMode` (before the umask); `show` is its archive path, for warnings. */
  beginFile(abs: Buffer, show: Buffer, createMode = 0o600): void {
    this.room(7 + abs.length);
    this.paths.push(show);
    this.open = show;
    this.buf[this.len] = OP_BEGIN;
    this.len = this.buf.writeUInt16LE(createMode, this.len + 1);
    this.len = this.buf.writeUInt32LE(abs.length, this.len);
    this.put(abs);
  }

  /** Appends content at position `pos` of the open file, across batches if need be. */
  write(pos: number, data: Uint8Array): void {
    const slot = data.length >= REF_MIN ? this.arena?.slotOf(data) : undefined;
    if (slot) {
      this.room(REF_BYTES);
      const b = this.buf;
      b[this.len] = OP_REF;
      let o = b.writeDoubleLE(pos, this.len + 1);
      o = b.writeUInt16LE(this.sharedIndex(slot), o);
      o = b.writeUInt32LE(data.byteOffset, o);
      this.len = b.writeUInt32LE(data.length, o);
      this.refBytes += data.length;
      if (this.refBytes >= MAX_REF_BYTES) this.cut();
      return;
    }
    for (let done = 0; done < data.length; ) {
      this.room(DATA_HEAD + 1);
      const n = Math.min(data.length - done, this.buf.length - this.len - DATA_HEAD);
      this.buf[this.len] = OP_DATA;
      this.buf.writeDoubleLE(pos + done, this.len + 1);
      this.len = this.buf.writeUInt32LE(n, this.len + 9);
      this.buf.set(data.subarray(done, done + n), this.len);
      this.len += n;
      done += n;
    }
  }

  /** Ends the open file: size, xattrs (if `withXattrs`), owner, mode, times. */
  endFile(meta: FileEndMeta, withXattrs: boolean): void {
    const xs = withXattrs ? meta.xattrs : [];
    this.room(xs.reduce((n, x) => n + 8 + x.name.length + x.value.length, END_HEAD));
    const b = this.buf;
    b[this.len] = OP_END;
    let o = b.writeDoubleLE(meta.size, this.len + 1);
    o = b.writeUInt16LE(meta.mode, o);
    o = b.writeUInt32LE(meta.uid, o);
    o = b.writeUInt32LE(meta.gid, o);
    o = b.writeBigInt64LE(meta.mtimeNs, o);
    this.len = b.writeUInt16LE(xs.length, o);
    for (const x of xs) {
      this.len = b.writeUInt32LE(x.name.length, this.len);
      this.put(x.name);
      this.len = b.writeUInt32LE(x.value.length, this.len);
      this.put(x.value);
    }
    this.open = undefined;
    if (this.paths.length >= MAX_ENTRIES) this.flush();
  }

  symlink(abs: Buffer, show: Buffer, target: Buffer, meta: { uid: number; gid: number; mtimeNs: bigint }): void {
    this.room(25 + abs.length + target.length);
    this.paths.push(show);
    const b = this.buf;
    b[this.len] = OP_SYMLINK;
    this.len = b.writeUInt32LE(abs.length, this.len + 1);
    this.put(abs);
    this.len = b.writeUInt32LE(target.length, this.len);
    this.put(target);
    let o = b.writeUInt32LE(meta.uid, this.len);
    o = b.writeUInt32LE(meta.gid, o);
    this.len = b.writeBigInt64LE(meta.mtimeNs, o);
    if (this.paths.length >= MAX_ENTRIES) this.flush();
  }

  /** Queues the current batch (unless empty) as ready. */
  flush(): void {
    if (this.len === 0) return;
    const batch: Batch = { data: this.buf.buffer as ArrayBuffer, length: this.len, continues: this.open !== undefined, shared: this.shared };
    this.ready.push({ batch, paths: this.paths, firstDir: this.firstDir, lastDir: this.dir, slots: this.slots });
    this.firstDir = this.dir;
    this.paths = [];
    this.shared = [];
    this.slots = [];
    this.refBytes = 0;
    this.buf = Buffer.from(this.spare.pop() ?? new ArrayBuffer(this.size));
    this.len = 0;
  }

  /** The batch's number for `slot`'s buffer, taking a reference to the slot the first time. */
  private sharedIndex(slot: ArenaSlot): number {
    const last = this.slots.length - 1;
    if (last >= 0 && this.slots[last] === slot) return last;
    const i = this.slots.indexOf(slot);
    if (i >= 0) return i;
    this.arena!.retain(slot);
    this.slots.push(slot);
    this.shared.push(slot.sab);
    return last + 1;
  }

  /**
   * Makes room for `n` more bytes: a full batch is queued (an open file goes
   * on in the next one, after a CONTINUE), and an op bigger than a batch
   * (huge xattrs, a very deep path) gets a buffer of its own size.
   */
  private room(n: number): void {
    if (this.buf.length - this.len >= n) return;
    this.cut(n + 1);
  }

  /** Queues the batch and begins the next (of at least `need` bytes); an open file goes on there, after a CONTINUE. */
  private cut(need = 0): void {
    const open = this.open;
    this.flush();
    if (need > this.buf.length) this.buf = Buffer.from(new ArrayBuffer(need));
    if (open) {
      this.paths.push(open);
      this.buf[this.len++] = OP_CONTINUE;
    }
  }

  private put(bytes: Uint8Array): void {
    this.buf.set(bytes, this.len);
    this.len += bytes.length;
  }
}
