/**
 * Options every server command of bulwark-client shares, after
 * proxmox-backup-client: repository from --repository or BULWARK_REPOSITORY,
 * secret from BULWARK_PASSWORD (password or API token secret; without it a
 * kept ticket is used, or the password asked on a terminal), certificate
 * pin from --fingerprint or BULWARK_FINGERPRINT. Tickets and pinned
 * certificates are kept between runs in $XDG_RUNTIME_DIR/bulwark.
 */
import { bulwarkError } from '../errors.ts';
import { ServerConnection } from './connection.ts';
import { askSecret, onTerminal } from './prompt.ts';
import { parseRepository, type Repository } from './repository.ts';
import { TicketCache } from './ticket-cache.ts';

export interface CommonOptions {
  readonly repository?: string;
  readonly fingerprint?: string;
}

export function resolveRepository(opts: CommonOptions, env: NodeJS.ProcessEnv): Repository {
  const spec = opts.repository ?? env.BULWARK_REPOSITORY;
  if (!spec) throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'repository', 'missing: pass --repository or set BULWARK_REPOSITORY');
  return parseRepository(spec);
}

function askPassword(authid: string): Promise<string> {
  if (!onTerminal()) {
    return Promise.reject(bulwarkError('BULWARK_INVALID_ARGUMENT', 'password', 'missing: set BULWARK_PASSWORD (the password, or the API token secret), or run on a terminal to be asked for it'));
  }
  return askSecret(`Password for "${authid}": `);
}

export async function connectFromEnv(opts: CommonOptions, env: NodeJS.ProcessEnv): Promise<ServerConnection> {
  const repo = resolveRepository(opts, env);
  const given = env.BULWARK_PASSWORD;
  // Without BULWARK_PASSWORD a kept ticket may do; else the password is asked on a terminal, once.
  let asked: Promise<string> | undefined;
  const secret = given !== undefined && given.length > 0 ? given : () => (asked ??= askPassword(repo.authid));
  const fingerprint = opts.fingerprint ?? env.BULWARK_FINGERPRINT;
  const cache = TicketCache.fromEnv(env);
  return ServerConnection.connect({ repo, secret, ...(fingerprint && { fingerprint }), ...(cache && { cache }) });
}
