/**
 * One backup run: opens a backup session, learns the previous snapshot of
 * the group (its chunks become "known" and are not sent again), asks the
 * server for chunks an interrupted run of this group already stored
 * (`resume`), uploads each archive, and finishes. With a key, chunks are
 * encrypted and the manifest is built and signed here; the server never sees
 * the key or plaintext.
 */
import { createHash } from 'node:crypto';
import type { CryptKey } from '../datastore/crypt-key.ts';
import { FixedIndexReader } from '../datastore/fixed-index.ts';
import { createManifest, decodeManifestBlob, encodeManifestBlob, signManifest, type Manifest, type ManifestFileInput } from '../datastore/manifest.ts';
import type { BackupType } from '../datastore/names.ts';
import { imageIndexName, type ArchiveSpec } from './archive-spec.ts';
import type { ServerConnection } from './connection.ts';
import { imageSize, IMAGE_CHUNK_SIZE, readImageChunks } from './image-source.ts';
import { availableParallelism } from 'node:os';
import { EncodePool } from './encode-pool.ts';
import type { RpcSession } from './rpc.ts';
import { uploadTree } from './tree-upload.ts';
import { uploadIndex, type UploadStats } from './uploader.ts';

export interface BackupJobOptions {
  readonly conn: ServerConnection;
  readonly ns?: string;
  readonly backupType: BackupType;
  readonly backupId: string;
  readonly backupTime: number;
  readonly archives: readonly ArchiveSpec[];
  readonly key?: CryptKey;
  readonly exclude?: readonly string[];
  readonly onProgress?: (p: Readonly<BackupProgress>) => void;
  readonly onWarning?: (message: string) => void;
  /** Worker threads for digest + encode (default: one per core but one, at least one; 0 = main thread). */
  readonly encodeWorkers?: number;
}

export interface BackupProgress {
  archive: string;
  files: number;
  bytes: number;
  uploadedBytes: number;
  reusedChunks: number;
  chunks: number;
}

export interface ArchiveSummary extends UploadStats {
  readonly name: string;
  readonly files?: number;
}

export interface BackupSummary {
  readonly snapshot: string;
  readonly archives: readonly ArchiveSummary[];
  readonly resumedChunks: number;
}

/** Everything an archive uploader needs from the running session. */
export interface SessionContext {
  readonly rpc: RpcSession;
  readonly known: Set<string>;
  readonly previous: Manifest | undefined;
  readonly key?: CryptKey;
  readonly pool?: EncodePool;
  readonly files: ManifestFileInput[];
  readonly cryptMode: 'none' | 'encrypt';
  readonly progress: BackupProgress;
  readonly onProgress?: (p: Readonly<BackupProgress>) => void;
  readonly onWarning?: (message: string) => void;
  /** Loads an index or blob of the previous snapshot (registering its chunks as known on the server). */
  previousArchive(name: string): Promise<Buffer | undefined>;
  /** Uploads a blob and records it for the manifest. */
  uploadBlob(name: string, blob: Buffer): Promise<void>;
}

function usablePrevious(m: Manifest | undefined, key: CryptKey | undefined): Manifest | undefined {
  if (!m) return undefined;
  const prevFp = m.unprotected?.['key-fingerprint'];
  const encrypted = m.files.some((f) => f['crypt-mode'] === 'encrypt');
  // Chunks of another key (or of no key) have other digests: reusing them would only mislead.
  if (key ? !encrypted || prevFp !== key.fingerprintText : encrypted) return undefined;
  return m;
}

export async function runBackup(opts: BackupJobOptions): Promise<BackupSummary> {
  const workers = opts.encodeWorkers ?? Math.max(1, availableParallelism() - 1);
  const pool = workers > 0 ? new EncodePool(workers, opts.key) : undefined;
  const rpc = await opts.conn.openSession('/api2/ws/backup', {
    ...(opts.ns && { ns: opts.ns }), type: opts.backupType, id: opts.backupId, time: opts.backupTime,
  });
  let finished = false;
  try {
    const hello = await rpc.hello;
    let previous: Manifest | undefined;
    if (hello.previous) {
      const ok = await rpc.request('previous-manifest');
      previous = usablePrevious(decodeManifestBlob(ok.data as Buffer, 'previous manifest'), opts.key);
    }
    const known = new Set<string>();
    let resumedChunks = 0;
    const resumed = (await rpc.request('resume')).digests as Buffer | undefined;
    if (resumed) {
      for (let i = 0; i + 32 <= resumed.length; i += 32) known.add(resumed.subarray(i, i + 32).toString('hex'));
      resumedChunks = resumed.length / 32;
    }
    const files: ManifestFileInput[] = [];
    const ctx: SessionContext = {
      rpc, known, previous, files,
      ...(opts.key && { key: opts.key }),
      ...(pool && { pool }),
      cryptMode: opts.key ? 'encrypt' : 'none',
      progress: { archive: '', files: 0, bytes: 0, uploadedBytes: 0, reusedChunks: 0, chunks: 0 },
      ...(opts.onProgress && { onProgress: opts.onProgress }),
      ...(opts.onWarning && { onWarning: opts.onWarning }),
      async previousArchive(name) {
        if (!previous?.files.some((f) => f.filename === name)) return undefined;
        return (await rpc.request('previous', { name })).data as Buffer;
      },
      async uploadBlob(name, blob) {
        await rpc.request('blob', { name, data: blob });
        files.push({ filename: name, cryptMode: ctx.cryptMode, size: blob.length, csum: createHash('sha256').update(blob).digest() });
      },
    };

    const archives: ArchiveSummary[] = [];
    for (const spec of opts.archives) {
      ctx.progress.archive = spec.name;
      archives.push(spec.kind === 'image' ? await uploadImage(ctx, spec.name, spec.path) : await uploadTree(ctx, spec.name, spec.path, opts.exclude ?? []));
    }

    let manifest: Buffer | undefined;
    if (opts.key) {
      const m = createManifest({ backupType: opts.backupType, backupId: opts.backupId, backupTime: opts.backupTime, files });
      manifest = encodeManifestBlob(signManifest(m, opts.key));
    }
    await rpc.request('finish', manifest ? { manifest } : {});
    finished = true;
    return { snapshot: `${opts.backupType}/${opts.backupId}/${new Date(opts.backupTime * 1000).toISOString().replace('.000Z', 'Z')}`, archives, resumedChunks };
  } finally {
    if (finished) rpc.close();
    else await rpc.closeAndWait();
    await pool?.close();
  }
}

async function uploadImage(ctx: SessionContext, name: string, path: string): Promise<ArchiveSummary> {
  const indexName = imageIndexName(name);
  const prev = await ctx.previousArchive(indexName);
  if (prev) for (const d of FixedIndexReader.fromBuffer(prev, indexName).digests()) ctx.known.add(Buffer.from(d).toString('hex'));
  const size = await imageSize(path);
  const result = await uploadIndex(readImageChunks(path, size), {
    rpc: ctx.rpc, kind: 'fixed', name: indexName, known: ctx.known, size, chunkSize: IMAGE_CHUNK_SIZE,
    ...(ctx.key && { key: ctx.key }),
    ...(ctx.pool && { pool: ctx.pool }),
    onProgress: (s) => {
      Object.assign(ctx.progress, { bytes: s.size, uploadedBytes: s.uploadedBytes, reusedChunks: s.reusedChunks, chunks: s.chunks });
      ctx.onProgress?.(ctx.progress);
    },
  });
  ctx.files.push({ filename: indexName, cryptMode: ctx.cryptMode, size: result.size, csum: result.csum });
  return { name, ...result };
}
