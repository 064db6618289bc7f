/**
 * `bulwark-client restore SNAPSHOT ARCHIVE TARGET [--pattern GLOB] [--ns NS] [--keyfile F]`.
 * ARCHIVE is `NAME.bxar` (TARGET a directory), `NAME.img` (TARGET a file,
 * a block device or `-` for stdout) or `NAME.bxar/PATH` with TARGET `-` to
 * write one file of the tree to stdout.
 */
import type { CryptKey } from '../../datastore/crypt-key.ts';
import { parseSnapshotRef } from '../../datastore/backup-ref.ts';
import { bulwarkError } from '../../errors.ts';
import type { ExtractStats } from '../archive/extract.ts';
import { connectFromEnv, type CommonOptions } from '../cli-env.ts';
import { chooseKey, type KeyChoice } from '../key-file.ts';
import { humanBytes } from '../output.ts';
import { progressPrinter, restoreLine } from '../progress.ts';
import { openReader, RestorePools, restoreImage, restoreSingleFile, restoreTree } from '../restore-job.ts';

export interface RestoreCommandOptions extends CommonOptions, KeyChoice {
  readonly ns?: string;
  readonly pattern?: string;
}

export async function restoreCommand(args: readonly string[], opts: RestoreCommandOptions, env: NodeJS.ProcessEnv): Promise<string> {
  const [snapText, archive, target] = args;
  if (!snapText || !archive || !target) throw bulwarkError('BULWARK_USAGE', 'restore needs SNAPSHOT ARCHIVE TARGET (e.g. host/web1/2026-11-24T10:00:00Z root.bxar /restore)');
  const snap = parseSnapshotRef(snapText);
  const key = await chooseKey(opts, env);
  const ref = parseArchive(archive);
  // A tree restore's worker threads boot while the connection is made.
  const pools = ref.kind === 'tree' && target !== '-' ? new RestorePools({ ...(key && { key }) }) : undefined;
  try {
    return await restoreWith(snap, ref, target, opts, env, key, pools);
  } finally {
    await pools?.close();
  }
}

type ArchiveRef = { readonly kind: 'file'; readonly name: string; readonly path: string } | { readonly kind: 'tree' | 'img'; readonly name: string };

/** `NAME.bxar/PATH` (one file of a tree), `NAME.bxar` or `NAME.img`. */
function parseArchive(archive: string): ArchiveRef {
  const single = /^([^/]+)\.bxar\/(.+)$/.exec(archive);
  if (single) return { kind: 'file', name: single[1]!, path: single[2]! };
  const m = /^(.+)\.(bxar|img)$/.exec(archive);
  if (!m) throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'archive', `${archive} (expected NAME.bxar, NAME.img or NAME.bxar/PATH)`);
  return { kind: m[2] === 'img' ? 'img' : 'tree', name: m[1]! };
}

async function restoreWith(
  snap: ReturnType<typeof parseSnapshotRef>, ref: ArchiveRef, target: string, opts: RestoreCommandOptions, env: NodeJS.ProcessEnv,
  key: CryptKey | undefined, pools: RestorePools | undefined,
): Promise<string> {
  const conn = await connectFromEnv(opts, env);
  const started = Date.now();
  const { rpc, manifest } = await openReader(conn, { ...(opts.ns && { ns: opts.ns }), type: snap.type, id: snap.id, time: snap.time }, key, pools?.arena);
  try {
    if (ref.kind === 'file') {
      if (target !== '-') throw bulwarkError('BULWARK_USAGE', 'a single file (NAME.bxar/PATH) is restored to stdout: use - as TARGET');
      await restoreSingleFile(rpc, manifest, ref.name, ref.path, process.stdout, key);
      return '';
    }
    if (ref.kind === 'img') {
      const size = await restoreImage(rpc, manifest, ref.name, target === '-' ? process.stdout : target, key);
      return target === '-' ? '' : `restored ${humanBytes(size)} to ${target} in ${((Date.now() - started) / 1000).toFixed(2)} s\n`;
    }
    if (target === '-') throw bulwarkError('BULWARK_USAGE', 'a tree archive restores into a directory; for one file use NAME.bxar/PATH -');
    const warnings: string[] = [];
    const progress = progressPrinter((s: ExtractStats, secs) => restoreLine(`${ref.name}.bxar`, s, secs));
    const stats = await restoreTree(rpc, manifest, ref.name, target, {
      ...(opts.pattern && { pattern: opts.pattern }), ...(key && { key }), ...(pools && { pools }),
      onWarning: (w) => warnings.push(w), onProgress: (s) => progress.update(s),
    }).finally(() => progress.done());
    for (const w of warnings) process.stderr.write(`warning: ${w}\n`);
    return `restored ${stats.entries} entries, ${humanBytes(stats.bytes)} (${stats.unchanged} unchanged files skipped) in ${((Date.now() - started) / 1000).toFixed(2)} s\n`;
  } finally {
    rpc.close();
  }
}
