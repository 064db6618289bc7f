/**
 * Options every server command of bulwark-client shares, after
 * proxmox-backup-client: repository from --repository or BULWARK_REPOSITORY,
 * secret from BULWARK_PASSWORD (password or API token secret), certificate
 * pin from --fingerprint or BULWARK_FINGERPRINT. Tickets and pinned
 * certificates are kept between runs in $XDG_RUNTIME_DIR/bulwark.
 */
import { bulwarkError } from '../errors.ts';
import { ServerConnection } from './connection.ts';
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

export async function connectFromEnv(opts: CommonOptions, env: NodeJS.ProcessEnv): Promise<ServerConnection> {
  const repo = resolveRepository(opts, env);
  const secret = env.BULWARK_PASSWORD;
  if (secret === undefined || secret.length === 0) {
    throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'password', 'missing: set BULWARK_PASSWORD (the password, or the API token secret)');
  }
  const fingerprint = opts.fingerprint ?? env.BULWARK_FINGERPRINT;
  const cache = TicketCache.fromEnv(env);
  return ServerConnection.connect({ repo, secret, ...(fingerprint && { fingerprint }), ...(cache && { cache }) });
}
