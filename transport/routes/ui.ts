/**
 * The visualiser and admin page: web/ as static files under /ui/ (elkjs's
 * browser bundle served from node_modules as /ui/vendor/elk.bundled.js, so
 * nothing is fetched from elsewhere), and the WebSocket /api2/ws/inspect
 * that carries the inspection feed (inspect-feed.ts) to it.
 *
 * The WebSocket authenticates on upgrade like the backup and reader ones
 * (ticket cookie or API token) and needs Sys.Audit on /system: the feed
 * shows every actor of the server. Browsers cannot put a token in a
 * WebSocket's headers, so a token may come as the offered subprotocol
 * `bulwark-token.<base64url of tokenid:secret>` (the server only ever
 * answers `bulwark-inspect`). A cookie-authenticated upgrade from another
 * origin is refused, so no other site can read the feed with the
 * operator's cookie.
 *
 * Each socket gets a snapshot, then the feed's batched deltas (one JSON
 * text per batch, shared by all sockets). A socket that falls behind is
 * not sent deltas it cannot take; once drained it gets a fresh snapshot.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import type { us_socket_context_t } from '@trufflesuite/uws-js-unofficial';
import { headerValue } from '../../auth/authenticate.ts';
import { bulwarkError } from '../../errors.ts';
import { httpErrorBody, toWireError } from '../error-map.ts';
import { sendJson } from '../http-api.ts';
import type { FeedMessage, InspectFeed } from '../inspect-feed.ts';
import { loadUws, type HttpResponse, type TemplatedApp, type WebSocket } from '../uws.ts';
import type { WsAuth } from '../ws-upgrade.ts';

export const INSPECT_PATH = '/api2/ws/inspect';
export const INSPECT_PROTOCOL = 'bulwark-inspect';
export const TOKEN_PROTOCOL_PREFIX = 'bulwark-token.';
/** The ACL path and privilege the actor feed needs. */
const SYSTEM_PATH = '/system';

export const DEFAULT_WEB_DIR = fileURLToPath(new URL('../../web/', import.meta.url));
const require = createRequire(import.meta.url);

export interface UiContext {
  readonly log: Logger;
  readonly auth: WsAuth;
  /** The feed the root actor was created with; without it the WebSocket answers 503. */
  readonly feed?: InspectFeed;
  /** Where the page's files are (default: web/ of this checkout). */
  readonly webDir?: string;
}

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
};

/**
 * Everything from this server only: scripts, styles, fonts, images and the
 * WebSocket (CSP 'self' covers wss: to the same host). No inline scripts;
 * no framing, so no other site can dress up the confirm buttons.
 */
const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy': "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
};

interface StaticFile {
  readonly path: string;
  readonly type: string;
  cached?: { body: Buffer; etag: string };
}

/** The files the page may load, by URL path under /ui/; nothing outside this map is served. */
function staticFiles(webDir: string): Map<string, StaticFile> {
  const files = new Map<string, StaticFile>();
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.name.startsWith('.')) continue;
      const full = join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.isFile() && CONTENT_TYPES[extname(entry.name)]) {
        files.set(relative(webDir, full).split(sep).join('/'), { path: full, type: CONTENT_TYPES[extname(entry.name)]! });
      }
    }
  };
  walk(webDir);
  files.set('vendor/elk.bundled.js', { path: require.resolve('elkjs/lib/elk.bundled.js'), type: CONTENT_TYPES['.js']! });
  return files;
}

function serveFile(res: HttpResponse, file: StaticFile, ifNoneMatch: string): void {
  if (!file.cached) {
    const body = readFileSync(file.path);
    file.cached = { body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` };
  }
  const { body, etag } = file.cached;
  res.cork(() => {
    res.writeStatus(ifNoneMatch === etag ? '304 Not Modified' : '200 OK');
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.writeHeader(k, v);
    res.writeHeader('Cache-Control', 'no-cache').writeHeader('ETag', etag);
    if (ifNoneMatch === etag) {
      res.endWithoutBody();
      return;
    }
    res.writeHeader('Content-Type', file.type).end(body);
  });
}

/** A token offered as a subprotocol becomes the Authorization header authenticate() reads. */
export function credentialHeaders(headers: Readonly<Record<string, string>>, offered: readonly string[]): Record<string, string> {
  const token = offered.find((p) => p.startsWith(TOKEN_PROTOCOL_PREFIX));
  if (!token) return { ...headers };
  const decoded = Buffer.from(token.slice(TOKEN_PROTOCOL_PREFIX.length), 'base64url').toString('utf8');
  return { ...headers, authorization: `PBSAPIToken=${decoded}` };
}

/** Origin absent (not a browser) or the host the request came to. */
function sameOrigin(headers: Readonly<Record<string, string>>): boolean {
  const origin = headerValue(headers, 'origin');
  if (origin === undefined || origin === '') return true;
  try {
    return new URL(origin).host === headerValue(headers, 'host');
  } catch {
    return false;
  }
}

interface Client {
  readonly authid: string;
  /** Deltas were skipped for backpressure: send a snapshot once drained. */
  stale: boolean;
}

/** Past this many buffered bytes a socket gets no more deltas until it has drained. */
const SOFT_BACKPRESSURE = 1024 * 1024;

export function uiRoutes(app: TemplatedApp, ctx: UiContext): void {
  const { log, auth, feed } = ctx;
  const webDir = ctx.webDir ?? DEFAULT_WEB_DIR;
  let files: Map<string, StaticFile>;
  try {
    files = staticFiles(webDir);
  } catch (err) {
    // A server without its page still serves its API.
    log.warn({ err, webDir }, 'the web page\'s files are missing; /ui/ answers 404');
    files = new Map();
  }

  app.get('/ui', (res) => {
    res.writeStatus('301 Moved Permanently').writeHeader('Location', '/ui/').end();
  });
  app.get('/ui/*', (res, req) => {
    const name = req.getUrl().slice('/ui/'.length) || 'index.html';
    const file = files.get(name);
    if (!file) {
      res.writeStatus('404 Not Found').writeHeader('Content-Type', 'text/plain; charset=utf-8').end('not found\n');
      return;
    }
    try {
      serveFile(res, file, req.getHeader('if-none-match'));
    } catch (err) {
      log.error({ err, file: file.path }, 'cannot read a web file');
      res.writeStatus('500 Internal Server Error').end();
    }
  });

  const clients = new Set<WebSocket<Client>>();
  let unsubscribe: (() => void) | undefined;
  const send = (ws: WebSocket<Client>, text: string): void => {
    const client = ws.getUserData();
    if (client.stale) return;
    if (ws.getBufferedAmount() > SOFT_BACKPRESSURE) {
      client.stale = true;
      return;
    }
    ws.send(text, false, true);
  };
  const broadcast = (msg: FeedMessage): void => {
    const text = JSON.stringify(msg);
    for (const ws of clients) send(ws, text);
  };

  app.ws<Client>(INSPECT_PATH, {
    compression: loadUws().uws.SHARED_COMPRESSOR,
    maxPayloadLength: 4096, // the page sends nothing but pings
    idleTimeout: 120,
    sendPingsAutomatically: true,
    upgrade: (res, req, context: us_socket_context_t) => {
      const headers: Record<string, string> = {};
      req.forEach((k, v) => { headers[k] = v; });
      const key = req.getHeader('sec-websocket-key');
      const extensions = req.getHeader('sec-websocket-extensions');
      const offered = req.getHeader('sec-websocket-protocol').split(',').map((p) => p.trim()).filter(Boolean);
      try {
        const who = auth.authenticate(credentialHeaders(headers, offered), Buffer.from(res.getRemoteAddressAsText()).toString());
        if (who.via === 'ticket' && !sameOrigin(headers)) throw bulwarkError('BULWARK_FORBIDDEN', 'a cross-origin WebSocket', 'the origin of this server');
        auth.check(who.authid, SYSTEM_PATH, 'Sys.Audit');
        if (!feed) throw bulwarkError('BULWARK_INTERNAL', 'the inspection feed is not running');
        const protocol = offered.includes(INSPECT_PROTOCOL) ? INSPECT_PROTOCOL : '';
        res.cork(() => res.upgrade<Client>({ authid: who.authid, stale: false }, key, protocol, extensions, context));
      } catch (err) {
        const wire = toWireError(err);
        if (wire.status >= 500) log.error({ err, path: INSPECT_PATH }, 'inspect WebSocket refused');
        sendJson(res, wire.status, httpErrorBody(wire));
      }
    },
    open: (ws) => {
      if (!unsubscribe) unsubscribe = feed!.subscribe(broadcast);
      // Those already connected get what is pending first, so the snapshot is never older than a delta they have.
      feed!.flush();
      clients.add(ws);
      ws.send(JSON.stringify(feed!.snapshot()), false, true);
    },
    drain: (ws) => {
      const client = ws.getUserData();
      if (client.stale && ws.getBufferedAmount() < SOFT_BACKPRESSURE / 4) {
        client.stale = false;
        ws.send(JSON.stringify(feed!.snapshot()), false, true);
      }
    },
    message: () => {
      // Nothing to answer: the feed is one-way.
    },
    close: (ws) => {
      clients.delete(ws);
      if (clients.size === 0 && unsubscribe) {
        unsubscribe();
        unsubscribe = undefined;
      }
    },
  });
}

