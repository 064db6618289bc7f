/**
 * What proxmox-backup-client does to one snapshot or group besides backing
 * up and restoring: `snapshot forget`, `snapshot protected show|update`,
 * `snapshot notes show|update`, and `prune GROUP` with PBS's keep options
 * (`--dry-run` lists what would go). The server checks the privileges
 * (Datastore.Modify, or Datastore.Prune / Backup on an owned group).
 * Arguments are checked before `connect` is called: a usage error never
 * costs a login.
 */
import { parseGroupRef, parseSnapshotRef } from '../../datastore/backup-ref.ts';
import { formatBackupTime } from '../../datastore/names.ts';
import { bulwarkError } from '../../errors.ts';
import type { ServerConnection } from '../connection.ts';
import { render, type OutputFormat } from '../output.ts';

/** The parameters naming a snapshot (and its namespace) as the API takes them. */
function snapshotParams(text: string | undefined, ns: string | undefined) {
  if (!text) throw bulwarkError('BULWARK_USAGE', 'a snapshot is needed (TYPE/ID/TIME, e.g. host/web1/2026-11-24T10:00:00Z)');
  const dir = parseSnapshotRef(text);
  return { name: `${dir.type}/${dir.id}/${formatBackupTime(dir.time)}`, params: { 'backup-type': dir.type, 'backup-id': dir.id, 'backup-time': dir.time, ns } };
}

type Connect = () => Promise<ServerConnection>;

export async function forgetSnapshot(connect: Connect, text: string | undefined, ns: string | undefined): Promise<string> {
  const { name, params } = snapshotParams(text, ns);
  await (await connect()).storeApi('DELETE', 'snapshots', params);
  return `removed snapshot ${name}\n`;
}

const BOOL: Readonly<Record<string, boolean>> = { true: true, '1': true, yes: true, on: true, false: false, '0': false, no: false, off: false };

export async function snapshotProtected(connect: Connect, args: readonly string[], ns: string | undefined, format: OutputFormat): Promise<string> {
  const [action, text, value] = args;
  if (action !== 'show' && action !== 'update') throw bulwarkError('BULWARK_USAGE', `unknown snapshot protected command ${JSON.stringify(action ?? '')} (use show or update)`);
  const { name, params } = snapshotParams(text, ns);
  if (action === 'show') {
    const isProtected = (await (await connect()).storeApi('GET', 'protected', params)) as boolean;
    return format === 'text' ? `${isProtected}\n` : `${JSON.stringify(isProtected)}\n`;
  }
  const flag = value === undefined ? undefined : BOOL[value.toLowerCase()];
  if (flag === undefined) throw bulwarkError('BULWARK_USAGE', 'snapshot protected update needs SNAPSHOT true|false');
  await (await connect()).storeApi('PUT', 'protected', { ...params, protected: flag });
  return `snapshot ${name} is ${flag ? 'now' : 'no longer'} protected\n`;
}

export async function snapshotNotes(connect: Connect, args: readonly string[], ns: string | undefined, format: OutputFormat): Promise<string> {
  const [action, text, notes] = args;
  if (action !== 'show' && action !== 'update') throw bulwarkError('BULWARK_USAGE', `unknown snapshot notes command ${JSON.stringify(action ?? '')} (use show or update)`);
  const { name, params } = snapshotParams(text, ns);
  if (action === 'show') {
    const current = (await (await connect()).storeApi('GET', 'notes', params)) as string;
    if (format !== 'text') return `${JSON.stringify(current)}\n`;
    return current.length === 0 || current.endsWith('\n') ? current : `${current}\n`;
  }
  if (notes === undefined) throw bulwarkError('BULWARK_USAGE', 'snapshot notes update needs SNAPSHOT NOTES');
  await (await connect()).storeApi('PUT', 'notes', { ...params, notes });
  return `notes of ${name} updated\n`;
}

export const KEEP_OPTIONS = ['keep-last', 'keep-hourly', 'keep-daily', 'keep-weekly', 'keep-monthly', 'keep-yearly'] as const;
export type KeepOptions = Partial<Record<(typeof KEEP_OPTIONS)[number], string>>;

interface PruneRow {
  'backup-type': string;
  'backup-id': string;
  'backup-time': number;
  keep: boolean;
  protected: boolean;
}

export async function pruneGroup(connect: Connect, text: string | undefined, keep: KeepOptions, opts: { ns?: string; dryRun: boolean }, format: OutputFormat): Promise<string> {
  if (!text) throw bulwarkError('BULWARK_USAGE', 'prune needs a group (TYPE/ID, e.g. host/web1)');
  const group = parseGroupRef(text);
  const params: Record<string, string | number | boolean | undefined> = { 'backup-type': group.type, 'backup-id': group.id, ns: opts.ns, 'dry-run': opts.dryRun || undefined };
  for (const option of KEEP_OPTIONS) {
    const value = keep[option];
    if (value === undefined) continue;
    if (!/^\d+$/.test(value)) throw bulwarkError('BULWARK_INVALID_ARGUMENT', `--${option}`, `${value} (a count)`);
    params[option] = Number(value);
  }
  const rows = (await (await connect()).storeApi('POST', 'prune', params)) as PruneRow[];
  rows.sort((a, b) => b['backup-time'] - a['backup-time']);
  const table = render(format, rows, [
    { header: 'snapshot', value: (r) => `${r['backup-type']}/${r['backup-id']}/${formatBackupTime(r['backup-time'])}` },
    { header: 'action', value: (r) => (r.keep ? (r.protected ? 'keep (protected)' : 'keep') : 'remove') },
  ]);
  return format === 'text' && opts.dryRun ? `${table}(dry run: nothing was removed)\n` : table;
}
