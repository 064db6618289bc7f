/**
 * `bulwark-client backup NAME.bxar:DIR|NAME.img:FILE ... [--ns NS]
 * [--backup-type host|vm|ct] [--backup-id ID] [--keyfile F] [--exclude GLOB]...
 * [--backup-time EPOCH]`.
 */
import { hostname } from 'node:os';
import { isBackupType, validateBackupId, type BackupType } from '../../datastore/names.ts';
import { bulwarkError } from '../../errors.ts';
import { parseArchiveSpec } from '../archive-spec.ts';
import { runBackup } from '../backup-job.ts';
import { connectFromEnv, type CommonOptions } from '../cli-env.ts';
import { chooseKey, type KeyChoice } from '../key-file.ts';
import { humanBytes, type OutputFormat } from '../output.ts';
import { backupLine, progressPrinter } from '../progress.ts';

export interface BackupCommandOptions extends CommonOptions, KeyChoice {
  readonly ns?: string;
  readonly 'backup-type'?: string;
  readonly 'backup-id'?: string;
  readonly exclude?: readonly string[];
  readonly 'backup-time'?: string;
}

export async function backupCommand(specs: readonly string[], opts: BackupCommandOptions, format: OutputFormat, env: NodeJS.ProcessEnv): Promise<string> {
  if (specs.length === 0) throw bulwarkError('BULWARK_USAGE', 'backup needs at least one archive (NAME.bxar:DIR or NAME.img:FILE)');
  const archives = specs.map(parseArchiveSpec);
  const type = opts['backup-type'] ?? 'host';
  if (!isBackupType(type)) throw bulwarkError('BULWARK_INVALID_ARGUMENT', '--backup-type', `${type} (use host, vm or ct)`);
  const id = validateBackupId(opts['backup-id'] ?? hostname().split('.')[0] ?? 'localhost');
  const timeText = opts['backup-time'];
  if (timeText !== undefined && !/^\d+$/.test(timeText)) throw bulwarkError('BULWARK_INVALID_ARGUMENT', '--backup-time', `${timeText} (epoch seconds)`);
  const backupTime = timeText !== undefined ? Number(timeText) : Math.floor(Date.now() / 1000);
  const key = await chooseKey(opts, env);

  const conn = await connectFromEnv(opts, env);
  const progress = progressPrinter(backupLine);
  const warnings: string[] = [];
  const started = Date.now();
  const summary = await runBackup({
    conn,
    ...(opts.ns && { ns: opts.ns }),
    backupType: type as BackupType,
    backupId: id,
    backupTime,
    archives,
    ...(key && { key }),
    exclude: opts.exclude ?? [],
    onProgress: (p) => progress.update(p),
    onWarning: (w) => warnings.push(w),
  }).finally(() => progress.done());
  const secs = (Date.now() - started) / 1000;
  for (const w of warnings) process.stderr.write(`warning: ${w}\n`);
  if (format !== 'text') return `${JSON.stringify({ snapshot: summary.snapshot, archives: summary.archives, 'resumed-chunks': summary.resumedChunks, duration: secs }, null, format === 'json-pretty' ? 2 : undefined)}\n`;
  const lines = [`snapshot ${summary.snapshot}`];
  for (const a of summary.archives) {
    const mbs = a.size / 1e6 / Math.max(secs, 0.001);
    lines.push(`  ${a.name}: ${humanBytes(a.size)}${a.files !== undefined ? ` in ${a.files} entries` : ''}, ${a.chunks} chunks, ${a.reusedChunks} reused, uploaded ${humanBytes(a.uploadedBytes)} (${mbs.toFixed(1)} MB/s)`);
  }
  lines.push(`duration ${secs.toFixed(2)} s`);
  return `${lines.join('\n')}\n`;
}
