/**
 * Uploads a directory tree as a split bxar archive: the metadata stream
 * (`NAME.mbxar.didx`), the payload stream (`NAME.pbxar.didx`) and the
 * catalog (`NAME.bcat.blob`). Files whose size, mtime, ctime and inode match
 * the previous snapshot's catalog are not read: their payload bytes are the
 * previous snapshot's chunks, appended as known chunks.
 */
import { decodeBlob, encodeBlob } from '../datastore/blob.ts';
import { DynamicIndexReader } from '../datastore/dynamic-index.ts';
import { Catalog, CatalogWriter, previousFromCatalog } from './archive/catalog.ts';
import { encodeTree, type PreviousFileLookup } from './archive/encoder.ts';
import { PayloadWriter } from './archive/payload.ts';
import { treeCatalogName, treeMetaIndexName, treePayloadIndexName } from './archive-spec.ts';
import type { ArchiveSummary, SessionContext } from './backup-job.ts';
import { chunkStream } from './chunker/dynamic-chunker.ts';
import { payloadChunks } from './payload-chunks.ts';
import { uploadIndex, type UploadStats } from './uploader.ts';

function addKnown(ctx: SessionContext, index: DynamicIndexReader): void {
  for (const d of index.digests()) ctx.known.add(Buffer.from(d).toString('hex'));
}

export async function uploadTree(ctx: SessionContext, name: string, root: string, exclude: readonly string[]): Promise<ArchiveSummary> {
  const metaName = treeMetaIndexName(name);
  const payloadName = treePayloadIndexName(name);
  const catalogName = treeCatalogName(name);

  let prevPayload: DynamicIndexReader | undefined;
  let previous: PreviousFileLookup | undefined;
  const prevMeta = await ctx.previousArchive(metaName);
  if (prevMeta) addKnown(ctx, DynamicIndexReader.fromBuffer(prevMeta, metaName));
  const prevPayloadBytes = await ctx.previousArchive(payloadName);
  const prevCatalog = prevPayloadBytes && (await ctx.previousArchive(catalogName));
  if (prevPayloadBytes && prevCatalog) {
    prevPayload = DynamicIndexReader.fromBuffer(prevPayloadBytes, payloadName);
    addKnown(ctx, prevPayload);
    previous = previousFromCatalog(Catalog.decode(decodeBlob(prevCatalog, { ...(ctx.key && { key: ctx.key }), what: catalogName })));
  }

  const payload = new PayloadWriter(prevPayload ? { previous: prevPayload } : {});
  const catalog = new CatalogWriter();
  const stats = { meta: undefined as UploadStats | undefined, payload: undefined as UploadStats | undefined };
  const report = () => {
    const m = stats.meta;
    const p = stats.payload;
    Object.assign(ctx.progress, {
      bytes: (m?.size ?? 0) + (p?.size ?? 0),
      uploadedBytes: (m?.uploadedBytes ?? 0) + (p?.uploadedBytes ?? 0),
      reusedChunks: (m?.reusedChunks ?? 0) + (p?.reusedChunks ?? 0),
      chunks: (m?.chunks ?? 0) + (p?.chunks ?? 0),
    });
    ctx.onProgress?.(ctx.progress);
  };
  const common = { rpc: ctx.rpc, kind: 'dynamic' as const, known: ctx.known, ...(ctx.key && { key: ctx.key }), ...(ctx.pool && { pool: ctx.pool }) };

  const meta = encodeTree(root, {
    exclude,
    payload,
    ...(previous && { previous }),
    onWarning: (w) => ctx.onWarning?.(`${w.path ? `${w.path}: ` : ''}${w.message}`),
    onEntry: (entry) => {
      catalog.add(entry);
      ctx.progress.files++;
    },
  });
  // The meta encoder feeds the payload writer; ending the payload when the meta stream ends.
  async function* metaThenEnd() {
    try {
      yield* meta;
    } finally {
      payload.end();
    }
  }
  const [metaResult, payloadResult] = await Promise.all([
    uploadIndex(chunkStream(metaThenEnd()), { ...common, name: metaName, onProgress: (s) => { stats.meta = s; report(); } }),
    uploadIndex(payloadChunks(payload.items()), { ...common, name: payloadName, onProgress: (s) => { stats.payload = s; report(); } }),
  ]);
  ctx.files.push({ filename: metaName, cryptMode: ctx.cryptMode, size: metaResult.size, csum: metaResult.csum });
  ctx.files.push({ filename: payloadName, cryptMode: ctx.cryptMode, size: payloadResult.size, csum: payloadResult.csum });
  await ctx.uploadBlob(catalogName, encodeBlob(catalog.finish(), { compress: true, ...(ctx.key && { key: ctx.key }) }));

  return {
    name,
    files: catalog.count,
    chunks: metaResult.chunks + payloadResult.chunks,
    size: payloadResult.size,
    uploadedChunks: metaResult.uploadedChunks + payloadResult.uploadedChunks,
    uploadedBytes: metaResult.uploadedBytes + payloadResult.uploadedBytes,
    reusedChunks: metaResult.reusedChunks + payloadResult.reusedChunks,
  };
}
