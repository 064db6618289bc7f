/**
 * Every bulwark-manager command as data: the words that name it, the
 * positional arguments it takes, and the API call it makes (PBS's paths).
 * Options the user gives (`--comment x`) are sent as the call's parameters,
 * so a command needs no code of its own beyond this line.
 */
import type { Column } from '../output.ts';

export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

export interface CommandSpec {
  readonly words: readonly string[];
  /** Positional arguments: each fills `{name}` in the path or becomes a parameter. */
  readonly args: readonly string[];
  readonly method: Method;
  readonly path: string;
  readonly help: string;
  /** The call answers with a UPID: follow the task's log until it ends. */
  readonly task?: boolean;
  /** Table columns for list answers. */
  readonly columns?: readonly Column<Record<string, unknown>>[];
}

const col = (header: string, key = header): Column<Record<string, unknown>> => ({
  header,
  value: (row) => (row[key] === undefined || row[key] === null ? '' : typeof row[key] === 'object' ? JSON.stringify(row[key]) : String(row[key])),
});
const time = (header: string, key: string): Column<Record<string, unknown>> => ({
  header,
  value: (row) => (typeof row[key] === 'number' ? new Date((row[key] as number) * 1000).toISOString().replace('.000Z', 'Z') : ''),
});

export const COMMANDS: readonly CommandSpec[] = [
  // users and tokens
  { words: ['user', 'list'], args: [], method: 'GET', path: '/access/users', help: 'list users', columns: [col('userid'), col('enable'), time('expire', 'expire'), col('email'), col('comment')] },
  { words: ['user', 'create'], args: ['userid'], method: 'POST', path: '/access/users', help: 'create a user (--password, --comment, --email, --expire, --enable)' },
  { words: ['user', 'update'], args: ['userid'], method: 'PUT', path: '/access/users/{userid}', help: 'change a user (--password, --comment, --email, --expire, --enable, --delete FIELD)' },
  { words: ['user', 'remove'], args: ['userid'], method: 'DELETE', path: '/access/users/{userid}', help: 'remove a user with its tokens and ACL entries' },
  { words: ['user', 'list-tokens'], args: ['userid'], method: 'GET', path: '/access/users/{userid}/token', help: "list a user's API tokens", columns: [col('tokenid'), col('enable'), time('expire', 'expire'), col('comment')] },
  { words: ['user', 'generate-token'], args: ['userid', 'token-name'], method: 'POST', path: '/access/users/{userid}/token/{token-name}', help: 'create an API token; its secret is shown once' },
  { words: ['user', 'delete-token'], args: ['userid', 'token-name'], method: 'DELETE', path: '/access/users/{userid}/token/{token-name}', help: 'delete an API token' },
  { words: ['user', 'permissions'], args: ['auth-id'], method: 'GET', path: '/access/permissions', help: 'effective privileges of a user or token (--path)' },
  // ACL
  { words: ['acl', 'list'], args: [], method: 'GET', path: '/access/acl', help: 'list ACL entries (--path, --exact)', columns: [col('path'), col('ugid'), col('ugid_type'), col('roleid'), col('propagate')] },
  { words: ['acl', 'update'], args: ['path', 'role'], method: 'PUT', path: '/access/acl', help: 'grant a role on a path (--auth-id ID, --propagate 0|1, --delete to revoke)' },
  // datastores
  { words: ['datastore', 'list'], args: [], method: 'GET', path: '/config/datastore', help: 'list datastores', columns: [col('name'), col('path'), col('gc-schedule'), col('maintenance-mode'), col('comment')] },
  { words: ['datastore', 'show'], args: ['name'], method: 'GET', path: '/config/datastore/{name}', help: "show a datastore's configuration" },
  { words: ['datastore', 'create'], args: ['name', 'path'], method: 'POST', path: '/config/datastore', help: 'create a datastore (its directory layout too)', task: true },
  { words: ['datastore', 'update'], args: ['name'], method: 'PUT', path: '/config/datastore/{name}', help: 'change a datastore (--gc-schedule, --maintenance-mode, --comment, --delete FIELD)' },
  { words: ['datastore', 'remove'], args: ['name'], method: 'DELETE', path: '/config/datastore/{name}', help: 'remove a datastore from the configuration (its data stays)' },
  { words: ['datastore', 'status'], args: ['store'], method: 'GET', path: '/admin/datastore/{store}/status', help: 'usage of a datastore' },
  // maintenance
  { words: ['garbage-collection', 'start'], args: ['store'], method: 'POST', path: '/admin/datastore/{store}/gc', help: 'run garbage collection and follow its log', task: true },
  { words: ['garbage-collection', 'status'], args: ['store'], method: 'GET', path: '/admin/datastore/{store}/gc', help: 'statistics of the last garbage collection' },
  { words: ['prune'], args: ['store'], method: 'POST', path: '/admin/datastore/{store}/prune-datastore', help: 'prune a datastore (--keep-last … --keep-yearly, --ns, --max-depth, --dry-run)', task: true },
  { words: ['verify'], args: ['store'], method: 'POST', path: '/admin/datastore/{store}/verify', help: 'verify a datastore (--ns, --max-depth, --ignore-verified, --outdated-after)', task: true },
  // tasks
  { words: ['task', 'list'], args: [], method: 'GET', path: '/nodes/localhost/tasks', help: 'list tasks (--limit, --running, --errors, --typefilter, --userfilter)', columns: [col('upid'), time('start', 'starttime'), time('end', 'endtime'), col('status')] },
  { words: ['task', 'log'], args: ['upid'], method: 'GET', path: '/nodes/localhost/tasks/{upid}/log', help: "print a task's log (follows a running task)" },
  { words: ['task', 'status'], args: ['upid'], method: 'GET', path: '/nodes/localhost/tasks/{upid}/status', help: "a task's state and exit status" },
  { words: ['task', 'stop'], args: ['upid'], method: 'DELETE', path: '/nodes/localhost/tasks/{upid}', help: 'stop a running task' },
  // remotes and sync jobs
  { words: ['remote', 'list'], args: [], method: 'GET', path: '/config/remote', help: 'list remotes', columns: [col('name'), col('host'), col('port'), col('auth-id'), col('fingerprint'), col('comment')] },
  { words: ['remote', 'create'], args: ['name'], method: 'POST', path: '/config/remote', help: 'add a remote (--host, --port, --auth-id, --password, --fingerprint)' },
  { words: ['remote', 'update'], args: ['name'], method: 'PUT', path: '/config/remote/{name}', help: 'change a remote' },
  { words: ['remote', 'remove'], args: ['name'], method: 'DELETE', path: '/config/remote/{name}', help: 'remove a remote' },
  { words: ['sync-job', 'list'], args: [], method: 'GET', path: '/config/sync', help: 'list sync jobs', columns: [col('id'), col('store'), col('remote'), col('remote-store'), col('schedule'), col('comment')] },
  { words: ['sync-job', 'create'], args: ['id'], method: 'POST', path: '/config/sync', help: 'add a sync job (--store, --remote, --remote-store, --schedule, --remove-vanished)' },
  { words: ['sync-job', 'update'], args: ['id'], method: 'PUT', path: '/config/sync/{id}', help: 'change a sync job' },
  { words: ['sync-job', 'remove'], args: ['id'], method: 'DELETE', path: '/config/sync/{id}', help: 'remove a sync job' },
];

/** The command whose words start `words`, and the remaining positional arguments. */
export function findCommand(words: readonly string[]): { spec: CommandSpec; rest: string[] } | undefined {
  let best: CommandSpec | undefined;
  for (const spec of COMMANDS) {
    if (spec.words.every((w, i) => words[i] === w) && (!best || spec.words.length > best.words.length)) best = spec;
  }
  return best && { spec: best, rest: words.slice(best.words.length) };
}
