/**
 * Bulwark's datastore engine: a pure library (no server, no actors) that
 * stores backups the way Proxmox Backup Server does. docs/formats.md has the
 * byte layouts; this header holds the invariants every caller relies on.
 *
 * Content addressing and dedup. Data is cut into chunks (fixed 4 MiB for
 * images, content-defined for file archives); each chunk is stored once as a
 * blob named by its SHA-256 digest under `.chunks/`. Indexes (`.fidx`,
 * `.didx`) list a snapshot's chunks in order; the manifest lists a
 * snapshot's archives with their checksums. A snapshot without a manifest is
 * unfinished.
 *
 * Atomic writes. Every file that must survive a crash is written to a
 * temporary name and renamed into place (atomic-write.ts). An existing chunk
 * is never rewritten, only touched, unless the stored copy fails its CRC.
 *
 * Garbage collection (mark and sweep by atime). Phase 1 touches every chunk
 * that any index in any namespace references; phase 2 removes chunks whose
 * atime is older than the cutoff = min(phase-1 start − 24 h, start of the
 * oldest running backup writer) − 5 min (safety.ts). The 24 h covers
 * `relatime` mounts, which update atime at most daily; the oldest-writer term
 * covers chunks a running backup has uploaded or reused but whose index does
 * not exist yet (a backup touches every chunk it reuses). Running writers are
 * registered in `.locks/writers/` under kernel locks (writers.ts), so the
 * registry is exact across processes and heals when a writer dies.
 *
 * Locking (locks.ts). Kernel OFD locks on files under `.locks/`: one backup
 * writer per group (exclusive group lock), snapshot locks shared for readers
 * and verify, exclusive for the backup writing it and for prune/removal, and
 * one GC per store. There is no store-wide exclusive lock: backups of
 * different groups and a GC run side by side. Locks vanish with the process
 * that held them, so no lock ever needs removing by hand.
 */
export * from './atomic-write.ts';
export * from './backup-ref.ts';
export * from './blob.ts';
export * from './chunk-backend.ts';
export * from './chunk-store.ts';
export * from './create.ts';
export * from './crypt-key.ts';
export * from './digest.ts';
export * from './dynamic-index.ts';
export * from './fixed-index.ts';
export * from './formats.ts';
export * from './index-file.ts';
export * from './manifest.ts';
export * from './names.ts';
export * from './safety.ts';
export * from './backup-reader.ts';
export * from './backup-writer.ts';
export * from './known-chunks.ts';
export * from './resume-store.ts';
export * from './gc.ts';
export { dedupFactor, gcStatusToApi, gcSummaryLines, type GcPhase, type GcProgress, type GcStatus, type GcStatusApi } from './gc-stats.ts';
export * from './prune.ts';
export * from './prune-apply.ts';
export * from './verify.ts';
export * from './verify-job.ts';
export { VerifyPool, type ChunkCheck, type ChunkVerifier, type VerifyPoolOptions } from './verify-pool.ts';
