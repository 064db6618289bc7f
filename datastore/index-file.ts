/**
 * What every chunk index offers, whatever its kind (PBS's `IndexFile` trait):
 * `openIndex` tells the kinds apart by magic and returns the right reader.
 * The shared types and helpers live in index-common.ts.
 */
import { bulwarkError } from '../errors.ts';
import { MAGIC_DYNAMIC_INDEX, MAGIC_FIXED_INDEX } from './formats.ts';
import { FixedIndexReader } from './fixed-index.ts';
import { DynamicIndexReader } from './dynamic-index.ts';
import { readIndexBytes, type IndexKind, type IndexReader } from './index-common.ts';

export type { ChunkRange, IndexCloseResult, IndexKind, IndexReader, IndexWriterHeaderOptions } from './index-common.ts';

/** `.fidx` → fixed, `.didx` → dynamic, anything else (a `.blob`) → undefined. */
export function indexKindFromName(name: string): IndexKind | undefined {
  if (name.endsWith('.fidx')) return 'fixed';
  if (name.endsWith('.didx')) return 'dynamic';
  return undefined;
}

/** Open an index of either kind, telling them apart by magic. */
export function openIndex(path: string): IndexReader {
  return indexFromBuffer(readIndexBytes(path), path);
}

export function indexFromBuffer(buf: Buffer, what: string): IndexReader {
  if (buf.length < MAGIC_FIXED_INDEX.length) {
    throw bulwarkError('BULWARK_TRUNCATED', what, `${buf.length} bytes is shorter than the magic`);
  }
  const magic = buf.subarray(0, MAGIC_FIXED_INDEX.length);
  if (magic.equals(MAGIC_FIXED_INDEX)) return FixedIndexReader.fromBuffer(buf, what);
  if (magic.equals(MAGIC_DYNAMIC_INDEX)) return DynamicIndexReader.fromBuffer(buf, what);
  throw bulwarkError('BULWARK_BAD_MAGIC', what);
}
