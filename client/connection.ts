/**
 * A logged-in connection to a Bulwark (or PBS-shaped) server: API tokens go
 * in the `Authorization: PBSAPIToken=…` header; users log in once with
 * POST /access/ticket and then send the `PBSAuthCookie` ticket (plus the
 * CSRF token on writes), as proxmox-backup-client does. With a ticket
 * cache (client/ticket-cache.ts) a fresh enough ticket from an earlier run
 * is used instead of a login; if the server refuses it, the connection logs
 * in with the password once and repeats the call.
 */
import { request } from 'node:https';
import { isIP } from 'node:net';
import { BulwarkError, bulwarkError } from '../errors.ts';
import { refusedUpgrade, remoteError } from './remote-error.ts';
import type { Repository } from './repository.ts';
import type { ChunkArena } from './chunk-arena.ts';
import { DirectWebSocket } from './direct-websocket.ts';
import { wsFrameSocket } from './frame-socket.ts';
import { RpcSession } from './rpc.ts';
import type { TicketCache } from './ticket-cache.ts';
import { isCertificateError, normaliseFingerprint, pinnedTrust, trustFor, type TrustOptions, untrustedServer } from './tls-pin.ts';

/** Which snapshot a protocol session works on. */
export interface SnapshotTarget {
  readonly ns?: string;
  readonly type: string;
  readonly id: string;
  /** Epoch seconds. */
  readonly time: number;
}

export interface ConnectOptions {
  readonly repo: Repository;
  /**
   * Password of the user, or the secret of the API token; a function when
   * it is asked for only if needed (a kept ticket makes a login needless).
   */
  readonly secret: string | (() => Promise<string>);
  readonly fingerprint?: string;
  /** Tickets and pinned certificates kept between runs. */
  readonly cache?: TicketCache;
}

/** Largest message a session accepts: a 16 MiB chunk, its blob header and the frame's fields, with room. */
const MAX_MESSAGE = 64 * 1024 * 1024;

interface Credentials {
  readonly headers: Readonly<Record<string, string>>;
  readonly csrf?: string;
}

export class ServerConnection {
  readonly repo: Repository;
  #trust: TrustOptions;
  #creds: Credentials = { headers: {} };
  /** Set while the credentials (or the trusted certificate) came from the cache and the server has not accepted them yet. */
  #unconfirmed: { login?: () => Promise<void>; recheckPin?: () => Promise<void> } = {};

  private constructor(repo: Repository, trust: TrustOptions) {
    this.repo = repo;
    this.#trust = trust;
  }

  static async connect(opts: ConnectOptions): Promise<ServerConnection> {
    const { repo, cache } = opts;
    const pin = opts.fingerprint === undefined ? undefined : normaliseFingerprint(opts.fingerprint);
    const keptCert = pin === undefined ? undefined : cache?.certificate(pin);
    const trust = keptCert === undefined ? await trustFor(repo.host, repo.port, pin) : pinnedTrust(keptCert);
    if (pin !== undefined && keptCert === undefined) cache?.storeCertificate(pin, trust.ca!);
    const conn = new ServerConnection(repo, trust);
    if (keptCert !== undefined) {
      // A kept certificate the server no longer presents: fetch it again, so a
      // changed certificate gets the clear fingerprint mismatch error.
      conn.#unconfirmed.recheckPin = async () => {
        conn.#trust = await trustFor(repo.host, repo.port, pin);
        cache?.storeCertificate(pin!, conn.#trust.ca!);
      };
    }
    if (repo.authid.includes('!')) {
      conn.#creds = { headers: { authorization: `PBSAPIToken=${repo.authid}:${await secretOf(opts)}` } };
      return conn;
    }
    const server = `${repo.host}:${repo.port}`;
    const login = async () => {
      const body = new URLSearchParams({ username: repo.authid, password: await secretOf(opts) }).toString();
      const data = (await conn.#request('POST', '/access/ticket', body, 'application/x-www-form-urlencoded')) as {
        ticket: string;
        CSRFPreventionToken: string;
      };
      conn.#useTicket(data.ticket, data.CSRFPreventionToken);
      // A partial ticket (second factor pending) is not a login to keep.
      if (!data.ticket.includes('!tfa!')) cache?.storeTicket(server, repo.authid, data.ticket, data.CSRFPreventionToken);
    };
    const kept = cache?.ticket(server, repo.authid);
    if (kept === undefined) {
      await conn.#confirming(login);
    } else {
      conn.#useTicket(kept.ticket, kept.csrf);
      conn.#unconfirmed.login = async () => {
        cache!.forgetTicket(server, repo.authid);
        await login();
      };
    }
    return conn;
  }

  #useTicket(ticket: string, csrf: string): void {
    this.#creds = { headers: { cookie: `PBSAuthCookie=${encodeURIComponent(ticket)}` }, csrf };
  }

  /**
   * Runs `call`; if it failed because something taken from the cache was
   * refused (the ticket: 401; the certificate: TLS verification), replaces
   * that once and runs `call` again. The first success confirms both.
   */
  async #confirming<T>(call: () => Promise<T>): Promise<T> {
    const { login, recheckPin } = this.#unconfirmed;
    if (login === undefined && recheckPin === undefined) return call();
    try {
      const result = await call();
      this.#unconfirmed = {};
      return result;
    } catch (err) {
      this.#unconfirmed = {};
      if (recheckPin && isCertificateError((err as Error).cause)) await recheckPin();
      else if (login && err instanceof BulwarkError && err.code === 'BULWARK_UNAUTHORIZED') await login();
      else throw err;
      return call();
    }
  }

  /** Calls /api2/json<path>; resolves with `data`, rejects with the server's code and message. */
  api(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: string, contentType = 'application/json'): Promise<unknown> {
    return this.#confirming(() => this.#request(method, path, body, contentType));
  }

  /**
   * Calls `/admin/datastore/{store}/{call}` of this repository's store:
   * `params` (those not undefined) go into the query for GET and DELETE,
   * into a JSON body otherwise.
   */
  storeApi(method: 'GET' | 'POST' | 'PUT' | 'DELETE', call: string, params: Readonly<Record<string, string | number | boolean | undefined>> = {}): Promise<unknown> {
    const path = `/admin/datastore/${encodeURIComponent(this.repo.store)}/${call}`;
    const given = Object.entries(params).filter((e): e is [string, string | number | boolean] => e[1] !== undefined);
    if (method === 'POST' || method === 'PUT') return this.api(method, path, JSON.stringify(Object.fromEntries(given)));
    const query = new URLSearchParams(given.map(([k, v]): [string, string] => [k, String(v)])).toString();
    return this.api(method, query ? `${path}?${query}` : path);
  }

  #request(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: string, contentType = 'application/json'): Promise<unknown> {
    const headers: Record<string, string> = { ...this.#creds.headers };
    if (body !== undefined) headers['content-type'] = contentType;
    if (method !== 'GET' && this.#creds.csrf) headers.csrfpreventiontoken = this.#creds.csrf;
    return new Promise((resolve, reject) => {
      const req = request(
        { host: this.repo.host, port: this.repo.port, method, path: `/api2/json${path}`, headers, ...this.#trust },
        (res) => {
          const parts: Buffer[] = [];
          res.on('data', (d: Buffer) => parts.push(d));
          res.on('end', () => {
            const text = Buffer.concat(parts).toString('utf8');
            let json: { data?: unknown; code?: string; message?: string };
            try {
              json = JSON.parse(text) as typeof json;
            } catch {
              reject(bulwarkError('BULWARK_PROTOCOL', `server answered ${res.statusCode} with non-JSON`));
              return;
            }
            if ((res.statusCode ?? 500) >= 400) reject(remoteError(json.code, json.message ?? `HTTP ${res.statusCode}`));
            else resolve(json.data);
          });
        },
      );
      req.on('error', (err) => {
        const { host, port } = this.repo;
        if (this.#trust.ca === undefined && isCertificateError(err)) void untrustedServer(host, port, err).then(reject);
        else reject(bulwarkError('BULWARK_IO', `${host}:${port}`, err.message, { cause: err }));
      });
      req.end(body);
    });
  }

  /**
   * Opens a backup or reader session (`path`) on a snapshot of this
   * repository's store. A reader session's large replies are read into
   * `arena` slots when one is given (direct-websocket.ts).
   */
  openSession(path: '/api2/ws/backup' | '/api2/ws/reader', snap: SnapshotTarget, opts: { arena?: ChunkArena } = {}): Promise<RpcSession> {
    const query = new URLSearchParams({
      store: this.repo.store,
      ...(snap.ns && { ns: snap.ns }),
      'backup-type': snap.type,
      'backup-id': snap.id,
      'backup-time': String(snap.time),
    }).toString();
    return this.#confirming(() => (path === '/api2/ws/reader' ? this.#openDirect(`${path}?${query}`, opts.arena) : this.#openWs(`${path}?${query}`)));
  }

  async #openDirect(path: string, arena: ChunkArena | undefined): Promise<RpcSession> {
    const { host, port } = this.repo;
    const socket = await DirectWebSocket.open({
      host, port, path, headers: this.#creds.headers, maxMessage: MAX_MESSAGE,
      tls: { ...this.#trust, ...(!isIP(host) && { servername: host }) },
      ...(arena && { arena }),
    });
    // The session reads frames from here on; none can have been handled before it listens.
    return new RpcSession(socket);
  }

  async #openWs(path: string): Promise<RpcSession> {
    const host = this.repo.host.includes(':') ? `[${this.repo.host}]` : this.repo.host;
    const url = `wss://${host}:${this.repo.port}${path}`;
    // Loaded here: only backup sessions use ws (readers have their own socket), and it is a third of the CLI's code.
    const { default: WebSocket } = await import('ws');
    return new Promise((resolve, reject) => {
      // A zero masking key: masking (RFC 6455 10.3) keeps a browser's frames
      // from being read as requests by proxies in the clear; inside TLS it
      // protects nothing, and XOR-copying every uploaded byte costs a pass
      // over the data. The key is still sent, so the server unmasks as usual.
      const ws = new WebSocket(url, { headers: this.#creds.headers, ...this.#trust, maxPayload: MAX_MESSAGE, perMessageDeflate: false, generateMask: zeroMask });
      ws.binaryType = 'nodebuffer';
      // Attached before the socket opens, so no frame the server sends right after the upgrade is missed.
      const session = new RpcSession(wsFrameSocket(ws));
      ws.once('open', () => resolve(session));
      ws.once('unexpected-response', (_req, res) => {
        const parts: Buffer[] = [];
        res.on('data', (d: Buffer) => parts.push(d));
        res.on('end', () => reject(refusedUpgrade(res.statusCode, Buffer.concat(parts))));
      });
      ws.once('error', (err) => reject(bulwarkError('BULWARK_IO', url, err.message, { cause: err })));
    });
  }
}

const secretOf = (opts: ConnectOptions): Promise<string> => (typeof opts.secret === 'string' ? Promise.resolve(opts.secret) : opts.secret());

function zeroMask(mask: Buffer): void {
  mask.fill(0);
}
