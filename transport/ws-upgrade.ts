/**
 * What the backup and reader WebSocket routes share: capturing the upgrade
 * request, the checks before a session exists (credentials, privilege,
 * datastore state), opening the session actor through the sessions
 * supervisor, and the uWS behaviour that upgrades at once, tells the
 * session it is connected once it is `ready`, and forwards frames as events.
 *
 * Order of the checks, as in PBS: authenticate (401), parse the query (400),
 * check the privilege on the ACL path before looking at whether anything
 * exists (403, leaks nothing), then the datastore (404, 503): each an HTTP
 * reply in the /api2/json error shape. The session's own start (409 for a
 * locked group, 400 for a bad backup time…) runs behind the open socket; a
 * refusal there is an `abort` frame carrying the same status, code and
 * message, then the socket closes.
 */
import type { Logger } from 'pino';
import type { AnyActorRef } from 'xstate';
import type { us_socket_context_t } from '@trufflesuite/uws-js-unofficial';
import type { AuthContext, RequestHeaders } from '../auth/authenticate.ts';
import type { Privilege, PrivilegeSet } from '../auth/privileges.ts';
import { validateStoreName } from '../config/datastore-config.ts';
import { bulwarkError } from '../errors.ts';
import { datastoreSystemId } from '../machines/datastores.machine.ts';
import type { SessionsContext, SessionsEvent } from '../machines/sessions.machine.ts';
import { httpErrorBody, toWireError } from './error-map.ts';
import { decodeFrame } from './frame-codec.ts';
import { sendJson } from './http-api.ts';
import type { HttpRequest, HttpResponse, TemplatedApp, WebSocket } from './uws.ts';
import { WsPort } from './ws-port.ts';

/** The narrow part of auth/auth-service.ts the WebSocket routes use. */
export interface WsAuth {
  authenticate(headers: RequestHeaders, remoteAddr: string): AuthContext;
  check(authid: string, path: string, need: Privilege | readonly Privilege[], options?: { partial?: boolean }): void;
  privileges(authid: string, path: string): PrivilegeSet;
}

/** The actor system (root actor's `system`); only `get` is used. */
export interface ActorSystemLike {
  get(systemId: string): AnyActorRef | undefined;
}

export interface CapturedUpgrade {
  readonly url: string;
  readonly query: URLSearchParams;
  readonly headers: Readonly<Record<string, string>>;
  readonly remoteAddress: string;
}

export interface SnapshotQuery {
  readonly store: string;
  readonly ns: string;
  readonly type: string;
  readonly id: string;
  readonly backupTime: number;
}

/** What makes a route a backup or a reader route. */
export interface SessionBehaviour<R> {
  /** Runs the checks and opens the session actor; throws to refuse the upgrade. */
  open(upgrade: CapturedUpgrade, port: WsPort): AnyActorRef;
  /** Frame value → typed request (throws BULWARK_PROTOCOL). */
  parse(value: unknown): R;
}

interface AnySnapshotLike {
  readonly status: string;
  readonly value: unknown;
  readonly context: unknown;
}

interface UserData {
  readonly ref: AnyActorRef;
  readonly port: WsPort;
  /** Frames that came before the session was ready, in order; undefined once it is. */
  early: SessionFrameEvent[] | undefined;
}

type SessionFrameEvent = { type: 'REQUEST'; request: unknown } | { type: 'FRAME_ERROR'; error: unknown };

/** Frames a client may send before `hello` (it has no upload credit yet): a few small requests. */
const MAX_EARLY_FRAMES = 64;

/** Largest frame uWS accepts: a 16 MiB chunk plus its blob header and the msgpack fields, with room to spare. */
export const MAX_FRAME_BYTES = 16 * 1024 * 1024 + 64 * 1024;
/** Past this many buffered bytes uWS closes the socket rather than drop a frame. */
const MAX_BACKPRESSURE = 256 * 1024 * 1024;
// PBS's safe-id charset; the store and readers validate again, this guards the ACL path.
const NS_COMPONENT = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;

const param = (q: URLSearchParams, name: string): string => {
  const v = q.get(name);
  if (v === null || v === '') throw bulwarkError('BULWARK_INVALID_ARGUMENT', name, 'missing');
  return v;
};

export function snapshotQuery(q: URLSearchParams): SnapshotQuery {
  const store = validateStoreName(param(q, 'store'));
  const ns = q.get('ns') ?? '';
  if (ns !== '' && !ns.split('/').every((c) => NS_COMPONENT.test(c))) throw bulwarkError('BULWARK_INVALID_NAME', 'namespace', JSON.stringify(ns), 'use a/b/c of A-Z a-z 0-9 _ . -');
  const time = param(q, 'backup-time');
  if (!/^\d{1,15}$/.test(time)) throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'backup-time', `${JSON.stringify(time)} is not epoch seconds`);
  return { store, ns, type: param(q, 'backup-type'), id: param(q, 'backup-id'), backupTime: Number(time) };
}

export const aclPath = (store: string, ns: string): string => (ns === '' ? `/datastore/${store}` : `/datastore/${store}/${ns}`);

/** Asks the sessions supervisor for a new session and returns it (see machines/sessions.machine.ts). */
export function openSession(system: ActorSystemLike, event: SessionsEvent): AnyActorRef {
  const sessions = system.get('sessions');
  if (!sessions) throw bulwarkError('BULWARK_INTERNAL', 'the sessions supervisor is not running');
  sessions.send(event);
  const id = (sessions.getSnapshot() as { context: SessionsContext }).context.lastId;
  const ref = id === undefined ? undefined : system.get(id);
  if (!ref) throw bulwarkError('BULWARK_INTERNAL', 'the session did not start');
  return ref;
}

function capture(res: HttpResponse, req: HttpRequest): CapturedUpgrade {
  const headers: Record<string, string> = {};
  req.forEach((k, v) => { headers[k] = v; });
  return {
    url: req.getUrl(),
    query: new URLSearchParams(req.getQuery() ?? ''),
    headers,
    remoteAddress: Buffer.from(res.getRemoteAddressAsText()).toString(),
  };
}

/** A frame as the session's event: a parsed request, or why it is not one. */
function frameEvent<R>(behaviour: SessionBehaviour<R>, message: ArrayBuffer, isBinary: boolean): SessionFrameEvent {
  if (!isBinary) return { type: 'FRAME_ERROR', error: bulwarkError('BULWARK_PROTOCOL', 'text frames are not part of the protocol') };
  // Our own copy: uWS reuses `message` once this handler returns, and chunk data outlives it.
  const bytes = Buffer.from(message.slice(0));
  try {
    return { type: 'REQUEST', request: behaviour.parse(decodeFrame(bytes)) };
  } catch (err) {
    return { type: 'FRAME_ERROR', error: err };
  }
}

/** Registers the WebSocket route `pattern` for one kind of session. */
export function sessionRoute<R>(app: TemplatedApp, pattern: string, log: Logger, behaviour: SessionBehaviour<R>): void {
  app.ws<UserData>(pattern, {
    compression: 0, // uWS.DISABLED: chunks are compressed already
    maxPayloadLength: MAX_FRAME_BYTES,
    idleTimeout: 0, // the session machines keep their own idle timers
    maxBackpressure: MAX_BACKPRESSURE,
    closeOnBackpressureLimit: 1, // a boolean to uWS (typed as number): close rather than drop a reply
    upgrade: (res, req, context: us_socket_context_t) => {
      const up = capture(res, req);
      let session: UserData;
      try {
        const port = new WsPort(log);
        session = { ref: behaviour.open(up, port), port, early: [] };
      } catch (err) {
        const wire = toWireError(err);
        if (wire.status >= 500) log.error({ err, path: up.url }, 'WebSocket upgrade failed');
        sendJson(res, wire.status, httpErrorBody(wire));
        return;
      }
      const { ref, port } = session;
      // A session that crashes (a bug, not a refusal) takes only its own socket down.
      ref.subscribe({
        error: () => {
          port.send({ op: 'abort', error: { code: 'BULWARK_SESSION_ABORTED', args: ['internal error (see the server log)'] } });
          port.close();
        },
        complete: () => port.close(),
      });
      // Upgraded here, inside uWS's handler, while the session starts: this
      // uWS build cannot upgrade later (from a timer or a promise) safely.
      // Its HttpResponse.cork mistakes a socket upgraded in place for a
      // finished HTTP response and may close it; without cork, an upgrade
      // from a microtask that Node runs while uWS parses another socket's
      // request hands that socket's bytes to this one.
      res.upgrade<UserData>(session, req.getHeader('sec-websocket-key'), req.getHeader('sec-websocket-protocol'), req.getHeader('sec-websocket-extensions'), context);
    },
    open: (ws: WebSocket<UserData>) => {
      const data = ws.getUserData();
      const { ref, port } = data;
      port.attach(ws);
      // The session's own start (group lock, writer, reader) ends in `ready`
      // (then it says hello) or `failed` (refused with the status the HTTP
      // refusal would have had, then closed).
      const settled = (snap: AnySnapshotLike): boolean => {
        if (snap.status !== 'active' && snap.value !== 'failed') return true; // it stopped (the client left)
        if (snap.value === 'ready') {
          ref.send({ type: 'CONNECTED' });
          const early = data.early ?? [];
          data.early = undefined;
          for (const ev of early) ref.send(ev);
          return true;
        }
        if (snap.value === 'failed') {
          const wire = toWireError((snap.context as { fault: { thrown: unknown } }).fault.thrown);
          if (wire.status >= 500) log.error({ err: (snap.context as { fault: { thrown: unknown } }).fault.thrown, path: pattern }, 'session failed to start');
          port.refuse(wire);
          return true;
        }
        return false;
      };
      if (settled(ref.getSnapshot() as AnySnapshotLike)) return;
      const sub = ref.subscribe((snap) => {
        if (settled(snap as AnySnapshotLike)) sub.unsubscribe();
      });
    },
    message: (ws: WebSocket<UserData>, message: ArrayBuffer, isBinary: boolean) => {
      const data = ws.getUserData();
      const ev = frameEvent(behaviour, message, isBinary);
      if (data.early === undefined) {
        data.ref.send(ev);
      } else if (data.early.length < MAX_EARLY_FRAMES) {
        data.early.push(ev); // handed over once the session is ready
      } else {
        data.early = [{ type: 'FRAME_ERROR', error: bulwarkError('BULWARK_PROTOCOL', `more than ${MAX_EARLY_FRAMES} frames before hello`) }];
      }
    },
    drain: (ws: WebSocket<UserData>) => ws.getUserData().port.drain(),
    close: (ws: WebSocket<UserData>, code: number, message: ArrayBuffer) => {
      const { ref, port } = ws.getUserData();
      port.detach();
      // 1000/1001: a closing handshake; 1005: a close frame without a code. Anything else is a dropped
      // connection or a limit uWS enforced (a too big message, the backpressure limit): say which.
      if (code !== 1000 && code !== 1001 && code !== 1005) {
        log.warn({ path: pattern, code, reason: Buffer.from(message).toString('utf8') }, 'WebSocket closed without a closing handshake');
      }
      ref.send({ type: 'DISCONNECTED' });
    },
  });
}
