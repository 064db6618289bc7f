/**
 * What bulwark-client keeps between runs, as proxmox-backup-client keeps
 * its tickets in the user's runtime directory:
 *
 * - a user's login ticket (and CSRF token) per server and auth id, reused
 *   by the next command for up to REUSE_SECONDS (tickets live 2 h), so a
 *   run does not pay a login (a password check with scrypt on the server)
 *   each time. A server that refuses a cached ticket (restarted with a new
 *   key, user removed) gets a fresh login with the password;
 * - the certificate of each pinned server, by its SHA-256 fingerprint, so
 *   a run with `--fingerprint` need not fetch the certificate over a
 *   separate TLS handshake before its real connections. A certificate is
 *   used only if its own fingerprint is the pinned one.
 *
 * The file is `$XDG_RUNTIME_DIR/bulwark/tickets.json` (0600, in a 0700
 * directory). The runtime directory belongs to the user alone and lives in
 * memory; without one nothing is cached, and tickets never go to disk
 * elsewhere. A damaged file is ignored and rewritten. Concurrent clients
 * each replace the file whole (rename), so the worst a race does is lose
 * an entry and cost one more login.
 */
import { X509Certificate } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { atomicWriteFileSync } from '../datastore/atomic-write.ts';

/** A cached ticket is reused for at most this long after it was issued (its lifetime is 2 h). */
export const REUSE_SECONDS = 3600;

export interface CachedTicket {
  readonly ticket: string;
  readonly csrf: string;
  /** Epoch seconds (local clock) when the server issued it. */
  readonly issued: number;
}

interface CacheFile {
  tickets: Record<string, CachedTicket>;
  certificates: Record<string, string>;
}

const empty = (): CacheFile => ({ tickets: {}, certificates: {} });

function isCacheFile(v: unknown): v is CacheFile {
  const f = v as Partial<CacheFile> | null;
  return typeof f === 'object' && f !== null && typeof f.tickets === 'object' && f.tickets !== null
    && typeof f.certificates === 'object' && f.certificates !== null;
}

export class TicketCache {
  readonly path: string;

  private constructor(private readonly dir: string, private readonly now: () => number) {
    this.path = join(dir, 'tickets.json');
  }

  /** The cache in `$XDG_RUNTIME_DIR/bulwark`, or undefined when there is no runtime directory. */
  static fromEnv(env: NodeJS.ProcessEnv, now: () => number = () => Date.now() / 1000): TicketCache | undefined {
    const runtime = env.XDG_RUNTIME_DIR;
    if (runtime === undefined || runtime === '') return undefined;
    return new TicketCache(join(runtime, 'bulwark'), now);
  }

  /** A ticket for `authid` on `server` (host:port) young enough to reuse. */
  ticket(server: string, authid: string): CachedTicket | undefined {
    const t = this.#read().tickets[`${authid}@${server}`];
    if (t === undefined || typeof t.ticket !== 'string' || typeof t.csrf !== 'string' || typeof t.issued !== 'number') return undefined;
    const age = this.now() - t.issued;
    return age >= 0 && age < REUSE_SECONDS ? t : undefined;
  }

  storeTicket(server: string, authid: string, ticket: string, csrf: string): void {
    this.#update((f) => {
      f.tickets[`${authid}@${server}`] = { ticket, csrf, issued: Math.floor(this.now()) };
      // Expired entries are dropped whenever the file is written.
      for (const [k, t] of Object.entries(f.tickets)) if (!(this.now() - t.issued < REUSE_SECONDS)) delete f.tickets[k];
    });
  }

  forgetTicket(server: string, authid: string): void {
    this.#update((f) => { delete f.tickets[`${authid}@${server}`]; });
  }

  /** The PEM certificate whose SHA-256 fingerprint is `fingerprint` (`aa:bb:…`), if cached. */
  certificate(fingerprint: string): string | undefined {
    const pem = this.#read().certificates[fingerprint];
    if (typeof pem !== 'string') return undefined;
    try {
      return new X509Certificate(pem).fingerprint256.toLowerCase() === fingerprint ? pem : undefined;
    } catch {
      return undefined;
    }
  }

  storeCertificate(fingerprint: string, pem: string): void {
    this.#update((f) => { f.certificates[fingerprint] = pem; });
  }

  #read(): CacheFile {
    try {
      const parsed: unknown = JSON.parse(readFileSync(this.path, 'utf8'));
      return isCacheFile(parsed) ? parsed : empty();
    } catch {
      return empty(); // absent or damaged: start over
    }
  }

  /** Read, change, replace; a cache that cannot be written only costs the next run a login. */
  #update(change: (f: CacheFile) => void): void {
    const f = this.#read();
    change(f);
    try {
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      atomicWriteFileSync(this.path, JSON.stringify(f), { mode: 0o600 });
    } catch {
      /* read-only or full runtime dir: run without the cache */
    }
  }
}
