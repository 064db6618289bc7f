#!/usr/bin/env -S node --import tsx
/**
 * bulwark-client: back up to and restore from a Bulwark server (options and
 * environment after proxmox-backup-client). Errors end with one line on
 * stderr and a non-zero exit code.
 */
import { parseArgs } from 'node:util';
import { keyCreate, keyShow } from '../client/commands/key.ts';
import { parseOutputFormat } from '../client/output.ts';
import { bulwarkError, isBulwarkError } from '../errors.ts';

const HELP = `Usage: bulwark-client <command> [options]

Commands:
  key create [PATH] [--kdf none|scrypt]   create an encryption key (password from BULWARK_ENCRYPTION_PASSWORD)
  key show [PATH]                         show a key's fingerprint and metadata

Common options:
  --repository [[user@realm[!token]@]host[:port]:]store   (env BULWARK_REPOSITORY)
  --fingerprint FP       pin the server certificate's SHA-256 fingerprint (env BULWARK_FINGERPRINT)
  --output-format text|json|json-pretty
Environment: BULWARK_PASSWORD (password or API token secret)
`;

async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<string> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      repository: { type: 'string' },
      fingerprint: { type: 'string' },
      'output-format': { type: 'string' },
      kdf: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: true,
    strict: true,
  });
  const [command, sub, ...rest] = positionals;
  if (values.help || command === undefined || command === 'help') return HELP;
  const format = parseOutputFormat(values['output-format']);
  switch (command) {
    case 'key':
      if (sub === 'create') return keyCreate(rest[0], values.kdf ?? 'none', env);
      if (sub === 'show') return keyShow(rest[0], format, env);
      throw bulwarkError('BULWARK_USAGE', `unknown key command ${JSON.stringify(sub ?? '')} (use create or show)`);
    default:
      throw bulwarkError('BULWARK_USAGE', `unknown command ${JSON.stringify(command)} (see --help)`);
  }
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
