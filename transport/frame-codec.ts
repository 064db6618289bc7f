/**
 * The WebSocket frame codec of the backup and reader protocols
 * (docs/protocol.md): every binary message is one msgpack value.
 *
 *   request  (client → server)  map { id: uint, op: str, ...params }
 *   reply    (server → client)  map { id, ok: map } | { id, error: { code, message } }
 *   notice   (server → client)  map { op: 'hello'|'credit'|'abort', ... }
 *
 * msgpackr with `useRecords: false` (plain maps, no record extension, so
 * any msgpack implementation can talk to us), binary fields as `bin`,
 * integers beyond 32 bits read as numbers (then checked to be safe integers).
 * Requests are validated here, field by field, into the typed requests the
 * session machines take; a bad frame throws BULWARK_PROTOCOL naming the op
 * and the field, an oversized chunk BULWARK_CHUNK_TOO_LARGE.
 */
import { Packr } from 'msgpackr';
import { bulwarkError, isBulwarkError } from '../errors.ts';
import { MAX_ENCODED_CHUNK_SIZE } from '../datastore/blob.ts';
import { MAX_CHUNK_SIZE } from '../datastore/formats.ts';
import type { BackupRequest, Fault, ServerFrame } from '../machines/backup-session.types.ts';
import type { ReaderRequest } from '../machines/reader-session.types.ts';
import { toWireError, type WireError } from './error-map.ts';

// structuredClone off: the id/pointer extensions would let a client build cyclic values.
const packr = new Packr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number', structuredClone: false });

const DIGEST_BYTES = 32;

export function encodeFrame(value: unknown): Buffer {
  return packr.pack(value);
}

/** Replies whose data is at least this big are sent in two parts (encodeReplyParts). */
export const BULK_REPLY_BYTES = 64 * 1024;
const NO_DATA = Buffer.alloc(0);

/**
 * A reply `{ ..., ok: { ..., data } }` whose data (a chunk, an index) is
 * large and packs last, as the msgpack bytes before that bin's payload and
 * the payload itself: together exactly encodeFrame's bytes, but the payload
 * is not copied into a frame buffer (the port sends the two as fragments of
 * one WebSocket message). Undefined for any other frame.
 */
export function encodeReplyParts(frame: Readonly<Record<string, unknown>>): [Buffer, Uint8Array] | undefined {
  const ok = frame.ok as Readonly<Record<string, unknown>> | undefined;
  if (ok === null || typeof ok !== 'object' || !(ok.data instanceof Uint8Array) || ok.data.length < BULK_REPLY_BYTES) return undefined;
  const last = (o: object) => { const k = Object.keys(o); return k[k.length - 1]; };
  if (last(frame) !== 'ok' || last(ok) !== 'data') return undefined;
  const data = ok.data;
  const head = packr.pack({ ...frame, ok: { ...ok, data: NO_DATA } });
  // The empty placeholder packs as bin 8 of length 0 (c4 00): the last two bytes.
  const n = head.length - 2;
  if (n < 0 || head[n] !== 0xc4 || head[n + 1] !== 0) return undefined;
  const prefix = Buffer.allocUnsafe(n + 5);
  head.copy(prefix, 0, 0, n);
  prefix[n] = 0xc6; // bin 32
  prefix.writeUInt32BE(data.length, n + 1);
  return [prefix, data];
}

/** One msgpack value; anything else is BULWARK_PROTOCOL. */
export function decodeFrame(bytes: Uint8Array): unknown {
  try {
    return packr.unpack(bytes);
  } catch (err) {
    throw bulwarkError('BULWARK_PROTOCOL', `frame is not a msgpack value (${(err as Error).message})`, { cause: err });
  }
}

type Fields = Readonly<Record<string, unknown>>;

/** Field accessors that throw BULWARK_PROTOCOL naming the request and the field. */
class Reader {
  constructor(private readonly what: string, private readonly f: Fields) {}

  bad(field: string, want: string): never {
    throw bulwarkError('BULWARK_PROTOCOL', `${this.what}: field '${field}' must be ${want}`);
  }

  uint(field: string): number {
    const v = this.f[field];
    return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : this.bad(field, 'an unsigned integer');
  }

  optUint(field: string): number | undefined {
    return this.f[field] === undefined ? undefined : this.uint(field);
  }

  string(field: string): string {
    const v = this.f[field];
    return typeof v === 'string' && v.length > 0 ? v : this.bad(field, 'a non-empty string');
  }

  bin(field: string, exactLength?: number): Uint8Array {
    const v = this.f[field];
    if (!(v instanceof Uint8Array)) return this.bad(field, 'bin');
    if (exactLength !== undefined && v.length !== exactLength) this.bad(field, `${exactLength} bytes of bin`);
    return v;
  }

  digests(field: string): Uint8Array {
    const v = this.bin(field);
    return v.length % DIGEST_BYTES === 0 ? v : this.bad(field, `a multiple of ${DIGEST_BYTES} bytes of bin`);
  }

  uintArray(field: string): number[] {
    const v = this.f[field];
    if (!Array.isArray(v)) return this.bad(field, 'an array of unsigned integers');
    for (const x of v) if (!(typeof x === 'number' && Number.isSafeInteger(x) && x >= 0)) this.bad(field, 'an array of unsigned integers');
    return v as number[];
  }
}

function head(value: unknown): { id: number; op: string; r: Reader } {
  // Plain maps only: msgpack extensions decode to Sets, Errors, RegExps and such, never to a request.
  const proto = value !== null && typeof value === 'object' ? Object.getPrototypeOf(value) : undefined;
  if (proto !== Object.prototype && proto !== null) {
    throw bulwarkError('BULWARK_PROTOCOL', 'frame is not a msgpack map');
  }
  const f = value as Fields;
  const id = new Reader('request', f).uint('id');
  const op = f.op;
  if (typeof op !== 'string') throw bulwarkError('BULWARK_PROTOCOL', `request ${id}: field 'op' must be a string`);
  return { id, op, r: new Reader(`'${op}' request ${id}`, f) };
}

function chunkData(r: Reader): { size: number; data: Uint8Array } {
  const size = r.uint('size');
  const data = r.bin('data');
  // No valid chunk is larger: refused before the data is looked at or stored.
  if (size > MAX_CHUNK_SIZE) throw bulwarkError('BULWARK_CHUNK_TOO_LARGE', size, MAX_CHUNK_SIZE);
  if (data.length > MAX_ENCODED_CHUNK_SIZE) throw bulwarkError('BULWARK_CHUNK_TOO_LARGE', data.length, MAX_ENCODED_CHUNK_SIZE);
  return { size, data };
}

export function parseBackupRequest(value: unknown): BackupRequest {
  const { id, op, r } = head(value);
  switch (op) {
    case 'previous':
      return { id, op, name: r.string('name') };
    case 'previous-manifest':
    case 'resume':
    case 'finish': {
      if ((value as Fields).manifest === undefined) return { id, op };
      return { id, op, manifest: r.bin('manifest') };
    }
    case 'create-index': {
      const kind = (value as Fields).kind;
      if (kind !== 'fixed' && kind !== 'dynamic') return r.bad('kind', "'fixed' or 'dynamic'");
      const name = r.string('name');
      if (kind === 'dynamic') return { id, op, kind, name };
      return { id, op, kind, name, size: r.uint('size'), chunkSize: r.uint('chunk-size') };
    }
    case 'chunk':
      return { id, op, wid: r.uint('wid'), digest: r.bin('digest', DIGEST_BYTES), ...chunkData(r) };
    case 'append': {
      const digests = r.digests('digests');
      const offsets = r.uintArray('offsets');
      if (offsets.length !== digests.length / DIGEST_BYTES) r.bad('offsets', `one offset per digest (${digests.length / DIGEST_BYTES})`);
      return { id, op, wid: r.uint('wid'), digests, offsets };
    }
    case 'close-index':
      return { id, op, wid: r.uint('wid'), count: r.uint('count'), size: r.uint('size'), csum: r.bin('csum', DIGEST_BYTES) };
    case 'blob':
      return { id, op, name: r.string('name'), data: r.bin('data') };
    default:
      throw bulwarkError('BULWARK_PROTOCOL', `request ${id}: unknown op ${JSON.stringify(op)} for a backup session`);
  }
}

export function parseReaderRequest(value: unknown): ReaderRequest {
  const { id, op, r } = head(value);
  switch (op) {
    case 'manifest':
      return { id, op };
    case 'index':
    case 'blob':
      return { id, op, name: r.string('name') };
    case 'chunk':
      return { id, op, digest: r.bin('digest', DIGEST_BYTES) };
    default:
      throw bulwarkError('BULWARK_PROTOCOL', `request ${id}: unknown op ${JSON.stringify(op)} for a reader session`);
  }
}

/** A machine's fault as the wire error; `onInternal` sees errors whose details are not sent. */
export function faultToWire(fault: Fault, onInternal?: (err: unknown) => void): WireError {
  const err = 'thrown' in fault ? fault.thrown : bulwarkError(fault.code, ...fault.args);
  const wire = toWireError(err);
  if (!isBulwarkError(err)) onInternal?.(err);
  return wire;
}

/** A session's frame as it goes on the wire: faults become `{ code, message }`. */
export function toWireFrame(frame: ServerFrame, onInternal?: (err: unknown) => void): Record<string, unknown> {
  if (!('error' in frame)) return frame as Record<string, unknown>;
  const { code, message } = faultToWire(frame.error, onInternal);
  return { ...frame, error: { code, message } };
}
