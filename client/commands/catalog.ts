/** `bulwark-client catalog SNAPSHOT NAME.bxar [DIR]`: the entries of a tree archive, from its catalog. */
import { parseSnapshotRef } from '../../datastore/backup-ref.ts';
import { chooseKey, type KeyChoice } from '../key-file.ts';
import { formatBackupTime } from '../../datastore/names.ts';
import { bulwarkError } from '../../errors.ts';
import { displayPath } from '../archive/format.ts';
import { connectFromEnv, type CommonOptions } from '../cli-env.ts';
import { humanBytes, render, type OutputFormat } from '../output.ts';
import { loadCatalog, openReader } from '../restore-job.ts';

export async function catalogCommand(args: readonly string[], opts: CommonOptions & KeyChoice & { ns?: string }, format: OutputFormat, env: NodeJS.ProcessEnv): Promise<string> {
  const [snapText, archive, dir] = args;
  if (!snapText || !archive) throw bulwarkError('BULWARK_USAGE', 'catalog needs SNAPSHOT NAME.bxar [DIR]');
  const m = /^(.+)\.bxar$/.exec(archive);
  if (!m) throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'archive', `${archive} (a catalog exists for NAME.bxar archives)`);
  const snap = parseSnapshotRef(snapText);
  const key = await chooseKey(opts, env);
  const conn = await connectFromEnv(opts, env);
  const { rpc, manifest } = await openReader(conn, { ...(opts.ns && { ns: opts.ns }), type: snap.type, id: snap.id, time: snap.time }, key);
  try {
    const catalog = await loadCatalog(rpc, manifest, m[1]!, key);
    const entries = dir === undefined ? catalog.entries().slice(1) : catalog.list(dir);
    return render(format, entries, [
      { header: 'type', value: (e) => e.kind },
      { header: 'mode', value: (e) => (e.mode & 0o7777).toString(8).padStart(4, '0') },
      { header: 'size', value: (e) => (e.kind === 'file' ? humanBytes(e.size) : ''), align: 'right' },
      { header: 'mtime', value: (e) => formatBackupTime(Number(e.mtimeNs / 1_000_000_000n)) },
      { header: 'path', value: (e) => displayPath(e.path) },
    ], (e) => ({ type: e.kind, mode: e.mode, size: e.size, mtime: Number(e.mtimeNs / 1_000_000_000n), path: displayPath(e.path) }));
  } finally {
    rpc.close();
  }
}
