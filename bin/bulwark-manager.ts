/**
 * bulwark-manager: administer a Bulwark server over its /api2/json API
 * (users, ACLs, datastores, GC, prune, verify, tasks, remotes, sync jobs).
 * Errors end with one line on stderr and a non-zero exit code (2 for usage
 * errors, 1 for refused calls and failed tasks).
 */
import { connectFromEnv } from '../client/cli-env.ts';
import { COMMANDS } from '../client/manager/commands.ts';
import { parseManagerArgs } from '../client/manager/args.ts';
import { prepareCall, runManagerCommand } from '../client/manager/run.ts';
import { parseOutputFormat } from '../client/output.ts';
import { isBulwarkError } from '../errors.ts';

function help(): string {
  const width = Math.max(...COMMANDS.map((c) => [...c.words, ...c.args.map((a) => a.toUpperCase())].join(' ').length));
  const lines = COMMANDS.map((c) => `  ${[...c.words, ...c.args.map((a) => a.toUpperCase())].join(' ').padEnd(width)}  ${c.help}`);
  return `Usage: bulwark-manager <command> [ARGS] [--option value]...

Commands:
${lines.join('\n')}

Options are sent as the API's parameters (e.g. --keep-last 3, --comment "x").
Connection:
  --server [user@realm[!token]@]host[:port]   (env BULWARK_SERVER; default admin@pbs@localhost:8007)
  --fingerprint FP                            pin the server certificate (env BULWARK_FINGERPRINT)
  --output-format text|json|json-pretty
Environment: BULWARK_PASSWORD (the password, or the API token secret)
`;
}

async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<void> {
  const args = parseManagerArgs(argv);
  if (args.help || args.words.length === 0 || args.words[0] === 'help') {
    process.stdout.write(help());
    return;
  }
  const format = parseOutputFormat(args.outputFormat);
  const call = prepareCall(args.words, args.params);
  // A server is a repository without its store: reuse the repository grammar.
  const server = args.server ?? env.BULWARK_SERVER ?? 'localhost';
  const conn = await connectFromEnv({ repository: `${server}:manager`, ...(args.fingerprint && { fingerprint: args.fingerprint }) }, env);
  await runManagerCommand(conn, call, format, { write: (text) => process.stdout.write(text) });
}

main(process.argv.slice(2), process.env).catch((err: unknown) => {
  const usage = isBulwarkError(err, 'BULWARK_USAGE');
  const message = isBulwarkError(err) ? err.message : `unexpected error: ${(err as Error)?.message ?? String(err)}`;
  process.stderr.write(`bulwark-manager: ${message}\n`);
  process.exit(usage ? 2 : 1);
});
