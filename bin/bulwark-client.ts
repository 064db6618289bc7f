/**
 * bulwark-client: back up to and restore from a Bulwark server (options and
 * environment after proxmox-backup-client). Errors end with one line on
 * stderr and a non-zero exit code (2 for usage errors).
 */
import { parseArgs } from 'node:util';
import { backupCommand } from '../client/commands/backup.ts';
import { catalogCommand } from '../client/commands/catalog.ts';
import { keyCreate, keyShow } from '../client/commands/key.ts';
import { datastoreStatus, listGroups, listSnapshots } from '../client/commands/listing.ts';
import { createNamespace, deleteNamespace, listNamespaces } from '../client/commands/namespace.ts';
import { forgetSnapshot, KEEP_OPTIONS, type KeepOptions, pruneGroup, snapshotNotes, snapshotProtected } from '../client/commands/snapshot-admin.ts';
import { restoreCommand } from '../client/commands/restore.ts';
import { type CommonOptions, connectFromEnv } from '../client/cli-env.ts';
import { type OutputFormat, parseOutputFormat } from '../client/output.ts';
import { bulwarkError, isBulwarkError } from '../errors.ts';

const HELP = `Usage: bulwark-client <command> [options]

Commands:
  backup NAME.bxar:DIR|NAME.img:FILE ...   back up directory trees and images
      [--ns NS] [--backup-type host|vm|ct] [--backup-id ID] [--keyfile F]
      [--exclude GLOB]... [--backup-time EPOCH]
  restore SNAPSHOT ARCHIVE TARGET [--pattern GLOB]
      ARCHIVE: NAME.bxar (TARGET a directory), NAME.img (a file, device or -),
      NAME.bxar/PATH with TARGET - (one file to stdout)
  snapshot list [TYPE/ID]                  list snapshots
  snapshot forget SNAPSHOT                 remove a snapshot
  snapshot protected show|update SNAPSHOT [true|false]
                                           a protected snapshot is kept by prune
  snapshot notes show|update SNAPSHOT [NOTES]
  prune TYPE/ID [--keep-last N] [--keep-hourly N] [--keep-daily N]
      [--keep-weekly N] [--keep-monthly N] [--keep-yearly N] [--dry-run]
  list                                     list backup groups
  catalog SNAPSHOT NAME.bxar [DIR]         list the entries of a tree archive
  status                                   datastore usage
  namespace list [NS]                      list the namespaces (below NS)
  namespace create NS                      create a namespace (its parent must exist)
  namespace delete NS [--delete-groups]    delete an empty namespace (or with its groups)
  key create [PATH] [--kdf scrypt|none]    create an encryption key (scrypt: password-protected);
      default PATH ~/.config/bulwark/encryption-key.json, used when no --keyfile is given
  key show [PATH]                          show a key's fingerprint

SNAPSHOT is TYPE/ID/TIME, e.g. host/web1/2026-11-24T10:00:00Z.

Common options:
  --repository [[user@realm[!token]@]host[:port]:]store   (env BULWARK_REPOSITORY)
  --fingerprint FP    pin the server certificate's SHA-256 fingerprint (env BULWARK_FINGERPRINT)
  --ns NS             namespace (a/b/c)
  --keyfile F         encryption key file (its password from BULWARK_ENCRYPTION_PASSWORD, or asked);
                      without it the default key (see key create) is used if it exists
  --crypt-mode none|encrypt   no key even if a default one exists / fail without a key
  --output-format text|json|json-pretty
Environment: BULWARK_PASSWORD (the password, or the API token secret)
`;

async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<string> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      repository: { type: 'string' },
      fingerprint: { type: 'string' },
      'output-format': { type: 'string' },
      ns: { type: 'string' },
      'backup-type': { type: 'string' },
      'backup-id': { type: 'string' },
      'backup-time': { type: 'string' },
      keyfile: { type: 'string' },
      'crypt-mode': { type: 'string' },
      exclude: { type: 'string', multiple: true },
      pattern: { type: 'string' },
      kdf: { type: 'string' },
      'delete-groups': { type: 'boolean' },
      'dry-run': { type: 'boolean' },
      ...Object.fromEntries(KEEP_OPTIONS.map((o) => [o, { type: 'string' as const }])),
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: true,
    strict: true,
  });
  const [command, ...args] = positionals;
  if (values.help || command === undefined || command === 'help') return HELP;
  const format = parseOutputFormat(values['output-format']);
  switch (command) {
    case 'backup':
      return backupCommand(args, values, format, env);
    case 'restore':
      return restoreCommand(args, values, env);
    case 'catalog':
      return catalogCommand(args, values, format, env);
    case 'list':
      return listGroups(await connectFromEnv(values, env), values.ns, format);
    case 'snapshot':
      return snapshotCommand(args, values, format, env);
    case 'prune':
      return pruneGroup(() => connectFromEnv(values, env), args[0], values as KeepOptions, { ...(values.ns && { ns: values.ns }), dryRun: values['dry-run'] === true }, format);
    case 'status':
      return datastoreStatus(await connectFromEnv(values, env), format);
    case 'namespace':
      return namespaceCommand(args, values, format, env);
    case 'key':
      if (args[0] === 'create') return keyCreate(args[1], values.kdf ?? 'scrypt', env);
      if (args[0] === 'show') return keyShow(args[1], format, env);
      throw bulwarkError('BULWARK_USAGE', `unknown key command ${JSON.stringify(args[0] ?? '')} (use create or show)`);
    default:
      throw bulwarkError('BULWARK_USAGE', `unknown command ${JSON.stringify(command)} (see --help)`);
  }
}

async function snapshotCommand(args: string[], values: CommonOptions & { ns?: string }, format: OutputFormat, env: NodeJS.ProcessEnv): Promise<string> {
  const [sub, ...rest] = args;
  if (sub !== 'list' && sub !== 'forget' && sub !== 'protected' && sub !== 'notes') {
    throw bulwarkError('BULWARK_USAGE', `unknown snapshot command ${JSON.stringify(sub ?? '')} (use list, forget, protected or notes)`);
  }
  const connect = () => connectFromEnv(values, env);
  if (sub === 'list') return listSnapshots(await connect(), rest[0], values.ns, format);
  if (sub === 'forget') return forgetSnapshot(connect, rest[0], values.ns);
  if (sub === 'protected') return snapshotProtected(connect, rest, values.ns, format);
  return snapshotNotes(connect, rest, values.ns, format);
}

async function namespaceCommand(args: string[], values: CommonOptions & { 'delete-groups'?: boolean }, format: OutputFormat, env: NodeJS.ProcessEnv): Promise<string> {
  const [sub, ns] = args;
  if (sub !== 'list' && sub !== 'create' && sub !== 'delete') {
    throw bulwarkError('BULWARK_USAGE', `unknown namespace command ${JSON.stringify(sub ?? '')} (use list, create or delete)`);
  }
  const connect = () => connectFromEnv(values, env);
  if (sub === 'list') return listNamespaces(await connect(), ns, format);
  if (sub === 'create') return createNamespace(connect, ns);
  return deleteNamespace(connect, ns, values['delete-groups'] === true);
}

const isParseArgsError = (err: unknown): err is Error => (err as { code?: unknown })?.code?.toString().startsWith('ERR_PARSE_ARGS') === true;

main(process.argv.slice(2), process.env).then(
  (out) => process.stdout.write(out),
  (err: unknown) => {
    const usage = isBulwarkError(err, 'BULWARK_USAGE') || isParseArgsError(err);
    const message = isBulwarkError(err) || usage ? (err as Error).message : `unexpected error: ${(err as Error)?.message ?? String(err)}`;
    process.stderr.write(`bulwark-client: ${message}\n`);
    process.exit(usage ? 2 : 1);
  },
);
