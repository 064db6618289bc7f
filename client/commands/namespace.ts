/**
 * `bulwark-client namespace list [NS]`, `namespace create NS` and
 * `namespace delete NS [--delete-groups]`, as proxmox-backup-client has
 * them, over the admin API's namespace calls (which check the privileges:
 * Datastore.Modify on the parent to create or delete). Arguments are
 * checked before `connect` is called: a usage error never costs a login.
 */
import { bulwarkError } from '../../errors.ts';
import type { ServerConnection } from '../connection.ts';
import { render, type OutputFormat } from '../output.ts';

/** Every namespace below `parent` (the root when absent), the parent included; the root is listed as `/`. */
export async function listNamespaces(conn: ServerConnection, parent: string | undefined, format: OutputFormat): Promise<string> {
  const rows = (await conn.storeApi('GET', 'namespace', { parent })) as { ns: string }[];
  rows.sort((a, b) => a.ns.localeCompare(b.ns));
  return render(format, rows, [{ header: 'namespace', value: (r) => r.ns || '/' }]);
}

function splitNamespace(ns: string | undefined): { parent: string; name: string } {
  const parts = (ns ?? '').split('/').filter((p) => p.length > 0);
  if (parts.length === 0) throw bulwarkError('BULWARK_USAGE', 'namespace create and delete need a namespace other than the root (e.g. prod/web)');
  return { parent: parts.slice(0, -1).join('/'), name: parts.at(-1)! };
}

export async function createNamespace(connect: () => Promise<ServerConnection>, ns: string | undefined): Promise<string> {
  const { parent, name } = splitNamespace(ns);
  const created = (await (await connect()).storeApi('POST', 'namespace', { name, parent: parent || undefined })) as string;
  return `created namespace ${created}\n`;
}

export async function deleteNamespace(connect: () => Promise<ServerConnection>, ns: string | undefined, deleteGroups: boolean): Promise<string> {
  const { parent, name } = splitNamespace(ns);
  const full = parent ? `${parent}/${name}` : name;
  await (await connect()).storeApi('DELETE', 'namespace', { ns: full, 'delete-groups': deleteGroups || undefined });
  return `deleted namespace ${full}${deleteGroups ? ' with its groups' : ''}\n`;
}
