/**
 * Restores from a snapshot over a reader session: an image (`NAME.img`) to a
 * file, block device or stdout; a file tree (`NAME.bxar`) into a directory
 * (files that already match are skipped), or one file of it to a stream.
 * The manifest is checked first: with a key, its signature must verify, so a
 * wrong key fails before any data is written.
 */
import { open } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { decodeBlob } from '../datastore/blob.ts';
import type { CryptKey } from '../datastore/crypt-key.ts';
import { DynamicIndexReader } from '../datastore/dynamic-index.ts';
import { FixedIndexReader } from '../datastore/fixed-index.ts';
import { decodeManifestBlob, verifyManifestSignature, type Manifest } from '../datastore/manifest.ts';
import { formatBackupTime } from '../datastore/names.ts';
import { bulwarkError } from '../errors.ts';
import { Catalog } from './archive/catalog.ts';
import { extractArchive, extractSingleFileFromCatalog, type ExtractStats } from './archive/extract.ts';
import { defaultWriters, WritePool } from './archive/write-pool.ts';
import { imageIndexName, treeCatalogName, treeMetaIndexName, treePayloadIndexName } from './archive-spec.ts';
import { ChunkArena } from './chunk-arena.ts';
import { readIndexData } from './chunk-reader.ts';
import { type ChunkDecoder, DecodePool } from './decode-pool.ts';
import type { ServerConnection, SnapshotTarget } from './connection.ts';
import { RemotePayloadSource } from './payload-source.ts';
import type { RpcSession } from './rpc.ts';

/** Opens a reader session and reads the manifest; large replies go into `arena` slots when given (RestorePools.arena). */
export async function openReader(conn: ServerConnection, snap: SnapshotTarget, key?: CryptKey, arena?: ChunkArena): Promise<{ rpc: RpcSession; manifest: Manifest }> {
  const rpc = await conn.openSession('/api2/ws/reader', snap, arena ? { arena } : {});
  try {
    const manifest = decodeManifestBlob((await rpc.request('manifest')).data as Buffer, 'manifest');
    const encrypted = manifest.files.some((f) => f['crypt-mode'] === 'encrypt');
    if (encrypted && !key) throw bulwarkError('BULWARK_KEY_REQUIRED', `snapshot ${snap.type}/${snap.id}/${formatBackupTime(snap.time)}`);
    if (key && encrypted) verifyManifestSignature(manifest, key);
    return { rpc, manifest };
  } catch (err) {
    rpc.close();
    throw err;
  }
}

const has = (m: Manifest, name: string) => m.files.some((f) => f.filename === name);

async function openTree(rpc: RpcSession, manifest: Manifest, name: string, key?: CryptKey, decoder?: ChunkDecoder, arena?: ChunkArena) {
  const metaName = treeMetaIndexName(name);
  if (!has(manifest, metaName)) throw bulwarkError('BULWARK_NOT_FOUND', `archive ${name}.bxar in this snapshot`);
  const meta = DynamicIndexReader.fromBuffer((await rpc.request('index', { name: metaName })).data as Buffer, metaName);
  const payloadName = treePayloadIndexName(name);
  const payloadIndex = DynamicIndexReader.fromBuffer((await rpc.request('index', { name: payloadName })).data as Buffer, payloadName);
  const payload = new RemotePayloadSource(rpc, payloadIndex, { ...(key && { key }), ...(decoder && { decoder }), ...(arena && { arena }) });
  return { meta, payload };
}

export interface TreeRestoreOptions {
  readonly pattern?: string;
  readonly key?: CryptKey;
  readonly onWarning?: (message: string) => void;
  /** Counts so far, after each entry (extract.ts ExtractOptions.onProgress). */
  readonly onProgress?: (stats: Readonly<ExtractStats>) => void;
  /** Worker threads that create and write the files (default: write-pool.ts defaultWriters; 0: inline). */
  readonly writers?: number;
  /** Worker threads that decode chunks (default 1; 0: on this thread). */
  readonly decoders?: number;
  /** Pools started by the caller (they then ignore writers/decoders and stay open). */
  readonly pools?: RestorePools;
}

/**
 * The worker threads of a tree restore. A caller that starts them before it
 * connects (the restore command) has them booted by the time the first
 * chunk arrives; a thread's start-up is a good part of a second on a busy
 * machine, all of it otherwise on the restore's critical path.
 */
export class RestorePools {
  readonly writers: WritePool | undefined;
  readonly decoder: DecodePool | undefined;
  /** Shared memory for received chunks and decoded ones (see openReader, payload-source.ts). */
  readonly arena = new ChunkArena();

  constructor(opts: { writers?: number; decoders?: number; key?: CryptKey } = {}) {
    const writers = opts.writers ?? defaultWriters();
    const decoders = opts.decoders ?? 1;
    this.writers = writers > 0 ? new WritePool(writers) : undefined;
    this.decoder = decoders > 0 ? new DecodePool(decoders, opts.key) : undefined;
  }

  async close(): Promise<void> {
    await Promise.all([this.writers?.close(), this.decoder?.close()]);
  }
}

export async function restoreTree(rpc: RpcSession, manifest: Manifest, name: string, target: string, opts: TreeRestoreOptions = {}): Promise<ExtractStats> {
  // Started first: the workers boot while the indexes are fetched.
  const own = opts.pools ? undefined : new RestorePools(opts);
  const { writers: pool, decoder, arena } = opts.pools ?? own!;
  try {
    // Chunk content goes from the socket through the decoder to the writers in shared memory, without a copy.
    const { meta, payload } = await openTree(rpc, manifest, name, opts.key, decoder, arena);
    return await extractArchive(readIndexData(rpc, meta, { ...(opts.key && { key: opts.key }), ...(decoder && { decoder }) }), target, {
      payload,
      arena,
      overwrite: 'skip-unchanged',
      writers: pool ?? 0,
      ...(opts.pattern && { pattern: opts.pattern }),
      onWarning: (w) => opts.onWarning?.(`${w.path ? `${w.path}: ` : ''}${w.message}`),
      ...(opts.onProgress && { onProgress: opts.onProgress }),
    });
  } finally {
    await own?.close();
  }
}

export async function loadCatalog(rpc: RpcSession, manifest: Manifest, name: string, key?: CryptKey): Promise<Catalog> {
  const catalogName = treeCatalogName(name);
  if (!has(manifest, catalogName)) throw bulwarkError('BULWARK_NOT_FOUND', `catalog of ${name}.bxar in this snapshot`);
  const blob = (await rpc.request('blob', { name: catalogName })).data as Buffer;
  return Catalog.decode(decodeBlob(blob, { ...(key && { key }), what: catalogName }));
}

/** One file of a tree archive, streamed to `out` (found through the catalog; only its chunks are fetched). */
export async function restoreSingleFile(rpc: RpcSession, manifest: Manifest, name: string, path: string, out: Writable, key?: CryptKey): Promise<void> {
  const catalog = await loadCatalog(rpc, manifest, name, key);
  const { payload } = await openTree(rpc, manifest, name, key);
  await extractSingleFileFromCatalog(catalog, path, payload, out);
}

/** An image to a path (file or block device) or to a stream. */
export async function restoreImage(rpc: RpcSession, manifest: Manifest, name: string, target: string | Writable, key?: CryptKey): Promise<number> {
  const indexName = imageIndexName(name);
  if (!has(manifest, indexName)) throw bulwarkError('BULWARK_NOT_FOUND', `archive ${name}.img in this snapshot`);
  const index = FixedIndexReader.fromBuffer((await rpc.request('index', { name: indexName })).data as Buffer, indexName);
  const data = readIndexData(rpc, index, key ? { key } : {});
  if (typeof target !== 'string') {
    for await (const buf of data) if (!target.write(buf)) await new Promise((r) => target.once('drain', r));
    return index.totalSize();
  }
  // Positioned writes that skip all-zero chunks keep a restored image sparse.
  const handle = await open(target, 'w');
  try {
    let pos = 0;
    for await (const buf of data) {
      if (!isZero(buf)) await handle.write(buf, 0, buf.length, pos);
      pos += buf.length;
    }
    const st = await handle.stat();
    if (st.isFile()) await handle.truncate(pos);
    return pos;
  } finally {
    await handle.close();
  }
}

const ZERO = Buffer.alloc(16 * 1024 * 1024);
const isZero = (buf: Buffer): boolean => buf.length <= ZERO.length && ZERO.subarray(0, buf.length).equals(buf);
