/**
 * Archive records (layout in format.ts) from entry headers, and the
 * headers of the walk's entries from their stats. Headers are object
 * literals with a fixed key order, never built by object spread: V8 copies
 * a spread through a runtime call (microseconds each, on every file), and
 * a few fixed shapes keep encodeRecord's property loads fast.
 */
import { crc32 } from '../../datastore/crc32.ts';
import type { EntryStat } from './dir-scan.ts';
import {
  type EntryHeader, type EntryMeta, FILE_REF_CODE, KIND_CODES, RECORD_CRC, RECORD_PREFIX, type Xattr, splitNs, writeI64,
} from './format.ts';

/** Encodes one record (header of an entry). Exported for tests and tools; it does not validate names. */
export function encodeRecord(h: EntryHeader): Buffer {
  const ref = h.kind === 'file' && h.payloadOffset !== undefined;
  let extra = 0;
  if (h.kind === 'file') extra = ref ? 24 : 8;
  else if (h.kind === 'symlink' || h.kind === 'hardlink') extra = 2 + h.target.length;
  else if (h.kind === 'char' || h.kind === 'block') extra = 8;
  let xlen = 0;
  for (const x of h.xattrs) xlen += 1 + x.name.length + 4 + x.value.length;
  const bodyLen = 1 + h.name.length + 1 + 2 + 4 + 4 + 8 + 4 + 2 + xlen + extra;
  const b = Buffer.allocUnsafe(RECORD_PREFIX + bodyLen + RECORD_CRC);
  let o = b.writeUInt8(ref ? FILE_REF_CODE : KIND_CODES[h.kind], 0);
  o = b.writeUInt32LE(bodyLen, o);
  o = b.writeUInt8(h.name.length, o);
  o += h.name.copy(b, o);
  o = b.writeUInt8(h.flags, o);
  o = b.writeUInt16LE(h.mode, o);
  o = b.writeUInt32LE(h.uid, o);
  o = b.writeUInt32LE(h.gid, o);
  const { sec, nsec } = splitNs(h.mtimeNs);
  o = writeI64(b, sec, o);
  o = b.writeUInt32LE(nsec, o);
  o = b.writeUInt16LE(h.xattrs.length, o);
  for (const x of h.xattrs) {
    o = b.writeUInt8(x.name.length, o);
    o += x.name.copy(b, o);
    o = b.writeUInt32LE(x.value.length, o);
    o += x.value.copy(b, o);
  }
  if (h.kind === 'file') {
    o = writeI64(b, h.size, o);
    if (ref) {
      o = writeI64(b, h.payloadOffset!, o);
      o = writeI64(b, h.payloadLength ?? 0, o);
    }
  } else if (h.kind === 'symlink' || h.kind === 'hardlink') {
    o = b.writeUInt16LE(h.target.length, o);
    o += h.target.copy(b, o);
  } else if (h.kind === 'char' || h.kind === 'block') {
    o = b.writeUInt32LE(h.major, o);
    o = b.writeUInt32LE(h.minor, o);
  }
  b.writeUInt32LE(crc32(b.subarray(0, o)), o);
  return b;
}

/** The END_DIR record. */
export function encodeDirEnd(): Buffer {
  const b = Buffer.alloc(RECORD_PREFIX + RECORD_CRC);
  b.writeUInt8(KIND_CODES['dir-end'], 0);
  b.writeUInt32LE(crc32(b.subarray(0, RECORD_PREFIX)), RECORD_PREFIX);
  return b;
}

export function modeOf(st: EntryStat): number {
  return Number(st.mode & 0o7777n);
}

export const NO_XATTRS: Xattr[] = [];

export function baseHeader(kind: 'dir' | 'fifo', name: Buffer, st: EntryStat, xattrs: Xattr[], flags: number): EntryHeader {
  return { kind, name, flags, mode: modeOf(st), uid: Number(st.uid), gid: Number(st.gid), mtimeNs: st.mtimeNs, xattrs };
}

export function fileHeader(name: Buffer, st: EntryStat, xattrs: Xattr[], flags: number, size: number, payloadOffset: number | undefined, payloadLength: number | undefined): EntryHeader {
  return { kind: 'file', name, flags, mode: modeOf(st), uid: Number(st.uid), gid: Number(st.gid), mtimeNs: st.mtimeNs, xattrs, size, payloadOffset, payloadLength };
}

export function linkHeader(kind: 'symlink' | 'hardlink', name: Buffer, st: EntryStat, target: Buffer): EntryHeader {
  return { kind, name, flags: 0, mode: modeOf(st), uid: Number(st.uid), gid: Number(st.gid), mtimeNs: st.mtimeNs, xattrs: NO_XATTRS, target };
}

export function meta(name: Buffer, st: EntryStat, xattrs: Xattr[], flags: number): EntryMeta {
  return { name, flags, mode: modeOf(st), uid: Number(st.uid), gid: Number(st.gid), mtimeNs: st.mtimeNs, xattrs };
}
