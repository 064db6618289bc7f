/**
 * Repository specs after proxmox-backup-client: `[[authid@]host[:port]:]store`.
 * The auth id itself contains an `@` (`user@realm` or `user@realm!token`),
 * so the host part starts after the LAST `@`. IPv6 hosts are bracketed
 * (`[::1]:8007:store1`). Defaults: auth id `admin@pbs`, host localhost,
 * port 8007.
 */
import { bulwarkError } from '../errors.ts';

export interface Repository {
  readonly authid: string;
  readonly host: string;
  readonly port: number;
  readonly store: string;
}

export const DEFAULT_AUTHID = 'admin@pbs';
export const DEFAULT_PORT = 8007;

const STORE = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;
const AUTHID = /^[^\s:@!/]+@[A-Za-z0-9._-]+(![A-Za-z0-9_][A-Za-z0-9._-]*)?$/;

function bad(spec: string, why: string): never {
  throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'repository', `${JSON.stringify(spec)}: ${why} (expected [[user@realm[!token]@]host[:port]:]store)`);
}

export function parseRepository(spec: string): Repository {
  if (spec.length === 0) bad(spec, 'empty');
  let rest = spec;
  let authid = DEFAULT_AUTHID;
  const at = rest.lastIndexOf('@');
  // An `@` belongs to an auth id only if a host follows it (user@realm@host:store).
  if (at >= 0 && rest.slice(0, at).includes('@')) {
    authid = rest.slice(0, at);
    rest = rest.slice(at + 1);
    if (!AUTHID.test(authid)) bad(spec, `bad auth id ${JSON.stringify(authid)}`);
  }
  let host = 'localhost';
  let port = DEFAULT_PORT;
  let store = rest;
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close < 0) bad(spec, 'unclosed [');
    host = rest.slice(1, close);
    rest = rest.slice(close + 1);
    if (!rest.startsWith(':')) bad(spec, 'missing store');
    rest = rest.slice(1);
    const parts = rest.split(':');
    if (parts.length === 2) {
      port = parsePort(spec, parts[0]!);
      store = parts[1]!;
    } else if (parts.length === 1) {
      store = parts[0]!;
    } else bad(spec, 'too many ":"');
  } else {
    const parts = rest.split(':');
    if (parts.length === 3) {
      host = parts[0]!;
      port = parsePort(spec, parts[1]!);
      store = parts[2]!;
    } else if (parts.length === 2) {
      host = parts[0]!;
      store = parts[1]!;
    } else if (parts.length !== 1) bad(spec, 'too many ":"');
  }
  if (host.length === 0) bad(spec, 'empty host');
  if (!STORE.test(store)) bad(spec, `bad datastore name ${JSON.stringify(store)}`);
  return { authid, host, port, store };
}

function parsePort(spec: string, text: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) < 1 || Number(text) > 65535) bad(spec, `bad port ${JSON.stringify(text)}`);
  return Number(text);
}

export function formatRepository(r: Repository): string {
  const host = r.host.includes(':') ? `[${r.host}]` : r.host;
  return `${r.authid}@${host}:${r.port}:${r.store}`;
}
