/**
 * Where a backup session's known chunks come from, besides its own uploads
 * (backup-writer.ts adds those). An `append` may reference only digests
 * uploaded in this session or registered as known: from an index of the
 * previous snapshot (`previousArchive`) or from an interrupted session of the
 * same group and owner (`resumed`). Each known chunk is touched first, after
 * the writer's registration, so a running GC cannot sweep it; one that is
 * gone already is not known (referencing it would make a broken snapshot).
 *
 * Whether a known chunk is encrypted comes from the previous manifest's crypt
 * mode for chunks known from it, and the stored chunk's magic for resumed ones.
 */
import { join } from 'node:path';
import { bulwarkError } from '../errors.ts';
import type { BackupGroup } from './backup-ref.ts';
import { loadArchive, readSnapshotFile } from './backup-reader.ts';
import { isEncryptedKind, kindOfMagic } from './blob.ts';
import type { ChunkStore } from './chunk-store.ts';
import { digestHex } from './digest.ts';
import { DIGEST_SIZE } from './formats.ts';
import { type KnownChunks, digestAt, forEachLimit } from './known-chunks.ts';
import { MANIFEST_NAME } from './layout.ts';
import { decodeManifestBlob, type Manifest } from './manifest.ts';
import type { SnapshotInfo } from './snapshots.ts';

export interface KnownChunkSourcesOptions {
  readonly chunkStore: ChunkStore;
  readonly group: BackupGroup;
  /** The group's last finished snapshot when the session started. */
  readonly previous: SnapshotInfo | undefined;
  /** The session's set, filled in here. */
  readonly known: KnownChunks;
  /** Chunk touches in flight while registering. */
  readonly touchConcurrency: number;
  /** Called once for each digest newly made known (for stats). */
  readonly onKnown: () => void;
}

export class KnownChunkSources {
  readonly #opts: KnownChunkSourcesOptions;
  #previousManifest: Promise<{ blob: Buffer; manifest: Manifest }> | undefined;

  constructor(opts: KnownChunkSourcesOptions) {
    this.#opts = opts;
  }

  /** The previous snapshot's `index.json.blob` as stored, and decoded; BULWARK_NOT_FOUND when there is none. */
  async previousManifest(): Promise<{ blob: Buffer; manifest: Manifest }> {
    const { previous } = this.#opts;
    if (previous === undefined) throw bulwarkError('BULWARK_NOT_FOUND', `previous snapshot of group ${this.#opts.group.describe()}`);
    this.#previousManifest ??= (async () => {
      const what = `manifest of snapshot ${previous.dir.describe()}`;
      const blob = await readSnapshotFile(join(previous.path, MANIFEST_NAME), what);
      return { blob, manifest: decodeManifestBlob(blob, what) };
    })();
    // A failed read is not cached: the next call tries again.
    return this.#previousManifest.catch((err: unknown) => { this.#previousManifest = undefined; throw err; });
  }

  /**
   * Archive `name` of the previous snapshot, as stored. For an index, its
   * chunks become known (each touched; those already swept are not).
   */
  async previousArchive(name: string): Promise<Buffer> {
    const { manifest } = await this.previousManifest();
    const { data, file, index } = await loadArchive(this.#opts.previous!.path, manifest, name);
    if (index !== undefined) {
      const encrypted = file['crypt-mode'] === 'encrypt';
      await this.#register(index.count(), (i) => index.digest(i), async () => encrypted);
    }
    return data;
  }

  /** Make the digests of `list` (n × 32, from a ResumeStore) that still exist known; returns those. */
  async resumed(list: Buffer): Promise<Buffer> {
    const ok = await this.#register(list.length / DIGEST_SIZE, (i) => digestAt(list, i), async (digest) => {
      const head = await this.#opts.chunkStore.backend.readHead(digestHex(digest), 8);
      const kind = head && kindOfMagic(head);
      return kind === undefined ? undefined : isEncryptedKind(kind);
    });
    return Buffer.concat([...ok.keys()].filter((i) => ok[i]).map((i) => digestAt(list, i)));
  }

  /** Touch each digest and make the ones that still exist known; `kindOf` → encrypted?, or undefined for "unusable". */
  async #register(count: number, digestOf: (i: number) => Buffer, kindOf: (d: Buffer) => Promise<boolean | undefined>): Promise<Uint8Array> {
    const { chunkStore, known } = this.#opts;
    const ok = new Uint8Array(count);
    await forEachLimit(count, this.#opts.touchConcurrency, async (i) => {
      const digest = digestOf(i);
      const encrypted = (await chunkStore.touch(digest)) ? await kindOf(digest) : undefined;
      if (encrypted === undefined) {
        known.delete(digest); // swept by GC (or unreadable): must not be referenced
        return;
      }
      if (!known.has(digest)) {
        known.add(digest, encrypted);
        this.#opts.onKnown();
      }
      ok[i] = 1;
    });
    return ok;
  }
}
