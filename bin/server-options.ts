/**
 * Command line and environment of bulwark-server. Flags win over env vars,
 * env vars over defaults. Every mistake is a BULWARK_USAGE error with one
 * line that says what to change.
 */
import { parseArgs } from 'node:util';
import { isIP } from 'node:net';
import { bulwarkError } from '../errors.ts';

export interface ServerOptions {
  readonly dataDir: string;
  readonly listen: string;
  readonly port: number;
  readonly logLevel: string;
  readonly help: boolean;
}

export const SERVER_HELP = `Usage: bulwark-server [options]

Starts the Bulwark backup server (HTTPS API under /api2/json).
On first start it creates, under the data directory: etc/ (configuration,
self-signed TLS certificate), the datastore "store1" and the user admin@pbs.

Options:
  --data-dir DIR     data directory (env BULWARK_DATA_DIR, default ./data)
  --listen ADDR      IP address to listen on (env BULWARK_LISTEN, default 127.0.0.1)
  --port N           TCP port (env BULWARK_PORT, default 8007)
  --log-level LEVEL  fatal|error|warn|info|debug|trace (env BULWARK_LOG_LEVEL, default info)
  -h, --help         show this help

Environment:
  BULWARK_ADMIN_PASSWORD       password for admin@pbs on first start (else one is generated and printed once)
  BULWARK_ALLOW_UWS_FALLBACK=1 accept the slow JavaScript fallback when uWebSockets.js's binary can't load
`;

const LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

export function parseServerOptions(argv: readonly string[], env: NodeJS.ProcessEnv): ServerOptions {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        'data-dir': { type: 'string' },
        listen: { type: 'string' },
        port: { type: 'string' },
        'log-level': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: false,
      strict: true,
    }));
  } catch (err) {
    throw bulwarkError('BULWARK_USAGE', `${(err as Error).message} (see --help)`);
  }
  const dataDir = (values['data-dir'] as string | undefined) ?? env.BULWARK_DATA_DIR ?? './data';
  const listen = (values.listen as string | undefined) ?? env.BULWARK_LISTEN ?? '127.0.0.1';
  const portText = (values.port as string | undefined) ?? env.BULWARK_PORT ?? '8007';
  const logLevel = (values['log-level'] as string | undefined) ?? env.BULWARK_LOG_LEVEL ?? 'info';

  if (dataDir.length === 0) throw bulwarkError('BULWARK_USAGE', '--data-dir must not be empty');
  if (isIP(listen) === 0) throw bulwarkError('BULWARK_USAGE', `--listen ${JSON.stringify(listen)} is not an IP address (e.g. 127.0.0.1, ::1, 0.0.0.0)`);
  if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) {
    throw bulwarkError('BULWARK_USAGE', `--port ${JSON.stringify(portText)} is not a port number (0-65535)`);
  }
  if (!LEVELS.has(logLevel)) throw bulwarkError('BULWARK_USAGE', `--log-level ${JSON.stringify(logLevel)} is not one of ${[...LEVELS].join(', ')}`);
  return { dataDir, listen, port: Number(portText), logLevel, help: values.help === true };
}
