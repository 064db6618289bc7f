/**
 * The manifest a backup session finishes with: built here from the archives
 * the session wrote, or the client's own (signed) manifest after checking
 * that it lists exactly those archives, with the sizes, checksums and crypt
 * modes the server saw. Either way the server's upload stats go into
 * `unprotected.chunk_upload_stats` (outside the signature).
 */
import { bulwarkError, isBulwarkError } from '../errors.ts';
import type { BackupDir } from './backup-ref.ts';
import type { WrittenFile } from './backup-archives.ts';
import { createManifest, parseManifest, type Manifest } from './manifest.ts';

/** `chunk_upload_stats` of the manifest's unprotected part. */
export type UploadStats = Record<string, number>;

/** The manifest for `files` as written, crypt modes from what was seen in them. */
export function buildManifest(dir: BackupDir, files: readonly WrittenFile[], uploadStats: UploadStats): Manifest {
  return createManifest({
    backupType: dir.type, backupId: dir.id, backupTime: dir.time,
    files: files.map(({ file }) => ({ filename: file.filename, cryptMode: file['crypt-mode'], size: file.size, csum: file.csum })),
    unprotected: { chunk_upload_stats: uploadStats },
  });
}

/**
 * The client's manifest `m`, parsed, with the upload stats added; refused
 * with BULWARK_MANIFEST_INVALID unless it is for `dir` and lists exactly
 * `files` as written.
 */
export function checkClientManifest(dir: BackupDir, files: readonly WrittenFile[], m: Manifest, uploadStats: UploadStats): Manifest {
  const what = `client manifest of snapshot ${dir.describe()}`;
  const invalid = (reason: string) => bulwarkError('BULWARK_MANIFEST_INVALID', what, reason);
  let parsed: Manifest;
  try {
    parsed = parseManifest(JSON.parse(JSON.stringify(m)), what);
  } catch (err) {
    if (isBulwarkError(err)) throw err;
    throw bulwarkError('BULWARK_MANIFEST_INVALID', what, (err as Error).message, { cause: err });
  }
  if (parsed['backup-type'] !== dir.type || parsed['backup-id'] !== dir.id || parsed['backup-time'] !== dir.time) {
    throw invalid(`it is for ${parsed['backup-type']}/${parsed['backup-id']}/${parsed['backup-time']}, not ${dir.type}/${dir.id}/${dir.time}`);
  }
  const written = new Map(files.map((w) => [w.file.filename, w]));
  for (const f of parsed.files) {
    const w = written.get(f.filename);
    if (w === undefined) throw invalid(`it lists ${f.filename}, which this session did not write`);
    if (f.size !== w.file.size) throw invalid(`${f.filename} has size ${f.size}, the server wrote ${w.file.size}`);
    if (f.csum !== w.file.csum) throw invalid(`${f.filename} has csum ${f.csum}, the server wrote ${w.file.csum}`);
    if (f['crypt-mode'] === 'encrypt' ? w.sawPlain : w.sawEncrypted) {
      throw invalid(`${f.filename} has crypt mode ${f['crypt-mode']} but its data is ${w.sawEncrypted ? 'encrypted' : 'not encrypted'}`);
    }
    written.delete(f.filename);
  }
  if (written.size > 0) throw invalid(`it does not list ${[...written.keys()].join(', ')}`);
  return { ...parsed, unprotected: { ...parsed.unprotected, chunk_upload_stats: uploadStats } };
}
