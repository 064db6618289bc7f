/**
 * Magic numbers of every on-disk format. Each is the first 8 bytes of the
 * SHA-256 of the string in its comment (the way PBS derives its own).
 *
 * NEVER CHANGE THESE: every existing datastore depends on them.
 *
 * Where Bulwark's byte layout is identical to PBS's (uncompressed and
 * encrypted blobs, both index kinds) it keeps PBS's magic, so those files stay
 * readable by PBS tooling. lz4 replaces PBS's zstd, so the compressed kinds
 * have magics of their own.
 */

/** sha256("Proxmox Backup uncompressed blob v1.0")[0..8] */
export const MAGIC_BLOB_PLAIN = Buffer.from([66, 171, 56, 7, 190, 131, 112, 161]);
/** sha256("Bulwark lz4 compressed blob v1.0")[0..8] */
export const MAGIC_BLOB_LZ4 = Buffer.from([38, 131, 121, 120, 124, 51, 187, 129]);
/** sha256("Proxmox Backup encrypted blob v1.0")[0..8] */
export const MAGIC_BLOB_ENCRYPTED = Buffer.from([123, 103, 133, 190, 34, 45, 76, 240]);
/** sha256("Bulwark encrypted lz4 compressed blob v1.0")[0..8] */
export const MAGIC_BLOB_ENCRYPTED_LZ4 = Buffer.from([100, 2, 173, 90, 234, 156, 44, 9]);

/** sha256("Proxmox Backup fixed sized chunk index v1.0")[0..8] */
export const MAGIC_FIXED_INDEX = Buffer.from([47, 127, 65, 237, 145, 253, 15, 205]);
/** sha256("Proxmox Backup dynamic sized chunk index v1.0")[0..8] */
export const MAGIC_DYNAMIC_INDEX = Buffer.from([28, 145, 78, 165, 25, 186, 179, 205]);

/** Size of the fixed and dynamic index headers. */
export const INDEX_HEADER_SIZE = 4096;
/** Largest chunk the store accepts (raw or encoded). */
export const MAX_CHUNK_SIZE = 16 * 1024 * 1024;
/** Largest non-chunk blob (manifest, catalog, client log). */
export const MAX_BLOB_SIZE = 128 * 1024 * 1024;
/** Length of a SHA-256 digest. */
export const DIGEST_SIZE = 32;
