/**
 * `list` (groups), `snapshot list [GROUP]` and `status`, over the PBS-shaped
 * admin API, printed as a table or as JSON with PBS's field names.
 */
import { formatBackupTime } from '../../datastore/names.ts';
import { archiveNames } from '../archive-spec.ts';
import type { ServerConnection } from '../connection.ts';
import { humanBytes, render, type OutputFormat } from '../output.ts';

interface GroupRow {
  'backup-type': string;
  'backup-id': string;
  'last-backup': number;
  'backup-count': number;
  owner?: string;
}

interface SnapshotRow {
  'backup-type': string;
  'backup-id': string;
  'backup-time': number;
  files: { filename: string; size: number; 'crypt-mode'?: string }[];
  size: number;
  owner?: string;
  protected?: boolean;
  verification?: { state: string };
}

export async function listGroups(conn: ServerConnection, ns: string | undefined, format: OutputFormat): Promise<string> {
  const rows = (await conn.storeApi('GET', 'groups', { ns })) as GroupRow[];
  rows.sort((a, b) => `${a['backup-type']}/${a['backup-id']}`.localeCompare(`${b['backup-type']}/${b['backup-id']}`));
  return render(format, rows, [
    { header: 'group', value: (r) => `${r['backup-type']}/${r['backup-id']}` },
    { header: 'last snapshot', value: (r) => formatBackupTime(r['last-backup']) },
    { header: 'count', value: (r) => String(r['backup-count']), align: 'right' },
    { header: 'owner', value: (r) => r.owner ?? '' },
  ]);
}

export async function listSnapshots(conn: ServerConnection, group: string | undefined, ns: string | undefined, format: OutputFormat): Promise<string> {
  const [type, id] = group ? group.split('/') : [];
  const rows = (await conn.storeApi('GET', 'snapshots', { ns, 'backup-type': type, 'backup-id': id })) as SnapshotRow[];
  rows.sort((a, b) => `${a['backup-type']}/${a['backup-id']}`.localeCompare(`${b['backup-type']}/${b['backup-id']}`) || a['backup-time'] - b['backup-time']);
  return render(format, rows, [
    { header: 'snapshot', value: (r) => `${r['backup-type']}/${r['backup-id']}/${formatBackupTime(r['backup-time'])}` },
    { header: 'size', value: (r) => humanBytes(r.size), align: 'right' },
    { header: 'archives', value: (r) => archiveNames(r.files.map((f) => f.filename)).join(' ') },
    { header: 'protected', value: (r) => (r.protected ? 'yes' : '') },
  ]);
}

export async function datastoreStatus(conn: ServerConnection, format: OutputFormat): Promise<string> {
  const s = (await conn.storeApi('GET', 'status')) as { total: number; used: number; avail: number };
  return render(format, [{ store: conn.repo.store, ...s }], [
    { header: 'store', value: (r) => r.store },
    { header: 'total', value: (r) => humanBytes(r.total), align: 'right' },
    { header: 'used', value: (r) => `${humanBytes(r.used)} (${((r.used / Math.max(1, r.total)) * 100).toFixed(1)} %)`, align: 'right' },
    { header: 'avail', value: (r) => humanBytes(r.avail), align: 'right' },
  ]);
}
