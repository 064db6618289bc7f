/**
 * bulwark-manager's command line: words, then `--name value` options that
 * become API parameters as written (PBS's names: `--keep-last 3`,
 * `--maintenance-mode read-only`). A flag with no value means `1`, as
 * PBS's boolean parameters expect. Connection options are taken out first.
 */
import { bulwarkError } from '../../errors.ts';

export interface ManagerArgs {
  readonly words: string[];
  readonly params: Record<string, string>;
  readonly server?: string;
  readonly fingerprint?: string;
  readonly outputFormat?: string;
  readonly help: boolean;
}

const CONNECTION = new Set(['server', 'fingerprint', 'output-format']);

export function parseManagerArgs(argv: readonly string[]): ManagerArgs {
  const words: string[] = [];
  const params: Record<string, string> = {};
  const conn: Record<string, string> = {};
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') {
      help = true;
      continue;
    }
    if (!arg.startsWith('--')) {
      words.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    if (!/^[a-z][a-z0-9-]*$/.test(name)) throw bulwarkError('BULWARK_USAGE', `bad option ${JSON.stringify(arg)}`);
    let value: string;
    if (eq >= 0) value = arg.slice(eq + 1);
    else if (i + 1 < argv.length && !argv[i + 1]!.startsWith('--')) value = argv[++i]!;
    else value = '1';
    if (CONNECTION.has(name)) conn[name] = value;
    else params[name] = value;
  }
  return {
    words, params, help,
    ...(conn.server !== undefined && { server: conn.server }),
    ...(conn.fingerprint !== undefined && { fingerprint: conn.fingerprint }),
    ...(conn['output-format'] !== undefined && { outputFormat: conn['output-format'] }),
  };
}
