/**
 * One regular file of an archive streamed to a writable (restore to
 * stdout): from the archive (or from its catalog offset), or, for a split
 * archive, from the catalog entry's payload range alone.
 */
import { once } from 'node:events';
import { bulwarkError } from '../../errors.ts';
import type { Catalog } from './catalog.ts';
import { decodeArchive } from './decoder.ts';
import { FileBody } from './file-content.ts';
import { displayPath, toArchivePath } from './format.ts';
import type { PayloadSource } from './payload.ts';

type Source = AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

/**
 * Streams the content of one regular file to `out` (which is not ended).
 * The source is either a whole archive, or, with `startsAtEntry`, bytes
 * starting at the entry's catalog offset; of a split archive, the metadata
 * stream, with `payload`.
 */
export async function extractSingleFile(
  source: Source,
  archivePath: string | Uint8Array,
  out: NodeJS.WritableStream,
  opts: { startsAtEntry?: boolean; payload?: PayloadSource } = {},
): Promise<{ size: number }> {
  const want = toArchivePath(archivePath);
  const base = want.subarray(want.lastIndexOf(0x2f) + 1);
  for await (const e of decodeArchive(source, opts)) {
    if (e.kind === 'dir-end' || !(opts.startsAtEntry ? e.name.equals(base) : e.path.equals(want))) {
      if (opts.startsAtEntry) break;
      continue;
    }
    if (e.kind === 'hardlink') throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'archive path', `${displayPath(want)} is a hard link to ${displayPath(e.target)}; restore that path`);
    if (e.kind !== 'file') throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'archive path', `${displayPath(want)} is a ${e.kind}, not a regular file`);
    return await pipeContent(e.content(), out); // awaited here: leaving the loop closes the decoder
  }
  throw bulwarkError('BULWARK_NOT_FOUND', `archive path ${JSON.stringify(displayPath(want))}`);
}

/**
 * Streams one regular file of a split archive to `out` (not ended) from its
 * catalog entry's payload range alone: no metadata stream needed.
 */
export async function extractSingleFileFromCatalog(
  catalog: Catalog,
  archivePath: string | Uint8Array,
  payload: PayloadSource,
  out: NodeJS.WritableStream,
): Promise<{ size: number }> {
  const want = toArchivePath(archivePath);
  const e = catalog.find(want);
  if (!e) throw bulwarkError('BULWARK_NOT_FOUND', `archive path ${JSON.stringify(displayPath(want))}`);
  if (e.kind === 'hardlink') throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'archive path', `${displayPath(want)} is a hard link to ${displayPath(e.target ?? Buffer.alloc(0))}; restore that path`);
  if (e.kind !== 'file') throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'archive path', `${displayPath(want)} is a ${e.kind}, not a regular file`);
  if (e.payloadOffset === undefined || e.payloadLength === undefined) {
    throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'catalog', 'not the catalog of a split archive (no payload ranges); use extractSingleFile with the archive');
  }
  return pipeContent(new FileBody({ payload, offset: e.payloadOffset, length: e.payloadLength }, e.size).content(), out);
}

async function pipeContent(content: AsyncIterable<Buffer>, out: NodeJS.WritableStream): Promise<{ size: number }> {
  let size = 0;
  for await (const b of content) {
    size += b.length;
    if (!out.write(b)) await once(out, 'drain');
  }
  return { size };
}
