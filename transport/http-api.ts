/**
 * JSON routes under /api2/json on a uWS app. uWS hands over the request only
 * during the synchronous part of the handler, so everything a handler needs
 * (method, path parameters, query, headers, body) is captured into an
 * `ApiRequest` first; the handler then runs async and its result (or error,
 * via error-map.ts) is written inside `cork` unless the client went away.
 */
import type { Logger } from 'pino';
import { bulwarkError } from '../errors.ts';
import { httpErrorBody, statusLine, toWireError } from './error-map.ts';
import type { HttpRequest, HttpResponse, TemplatedApp } from './uws.ts';

export interface ApiRequest {
  readonly method: string;
  readonly path: string;
  readonly params: Readonly<Record<string, string>>;
  readonly query: URLSearchParams;
  readonly headers: Readonly<Record<string, string>>;
  readonly remoteAddress: string;
  /** Raw body; empty for GET/DELETE. */
  readonly body: Buffer;
}

export type ApiHandler = (req: ApiRequest) => Promise<unknown> | unknown;

/** A result with fields beside `data` in the envelope, such as PBS's `total` on paged lists. */
export class WithMeta {
  constructor(readonly data: unknown, readonly meta: Readonly<Record<string, unknown>>) {}
}
export type HttpMethod = 'get' | 'post' | 'put' | 'del';

/** Largest request body the JSON API accepts. */
const MAX_BODY = 1024 * 1024;

function capture(res: HttpResponse, req: HttpRequest, paramNames: readonly string[]): Omit<ApiRequest, 'body'> {
  const headers: Record<string, string> = {};
  req.forEach((k, v) => { headers[k] = v; });
  const params: Record<string, string> = {};
  paramNames.forEach((name, i) => { params[name] = decodeURIComponent(req.getParameter(i) ?? ''); });
  return {
    method: req.getMethod().toUpperCase(),
    path: req.getUrl(),
    params,
    query: new URLSearchParams(req.getQuery() ?? ''),
    headers,
    remoteAddress: Buffer.from(res.getRemoteAddressAsText()).toString(),
  };
}

function readBody(res: HttpResponse, state: { aborted: boolean }): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    res.onData((chunk, isLast) => {
      if (state.aborted) return;
      size += chunk.byteLength;
      if (size > MAX_BODY) {
        reject(bulwarkError('BULWARK_INVALID_ARGUMENT', 'request body', `larger than ${MAX_BODY} bytes`));
        return;
      }
      parts.push(Buffer.from(chunk.slice(0))); // uWS reuses the ArrayBuffer after return
      if (isLast) resolve(Buffer.concat(parts));
    });
  });
}

export function sendJson(res: HttpResponse, status: number, body: string, extraHeaders: Readonly<Record<string, string>> = {}): void {
  res.cork(() => {
    res.writeStatus(statusLine(status)).writeHeader('Content-Type', 'application/json;charset=UTF-8');
    for (const [k, v] of Object.entries(extraHeaders)) res.writeHeader(k, v);
    res.end(body);
  });
}

/**
 * Registers `handler` for `pattern` (uWS syntax, `:name` parameters) under
 * /api2/json. The handler's return value becomes `{"data": value}`.
 */
export function apiRoute(app: TemplatedApp, log: Logger, method: HttpMethod, pattern: string, handler: ApiHandler): void {
  const paramNames = [...pattern.matchAll(/:([A-Za-z0-9_-]+)/g)].map((m) => m[1]!);
  app[method](`/api2/json${pattern}`, (res, req) => {
    const state = { aborted: false };
    res.onAborted(() => { state.aborted = true; });
    const head = capture(res, req, paramNames);
    const hasBody = method === 'post' || method === 'put';
    void (async () => {
      try {
        const body = hasBody ? await readBody(res, state) : Buffer.alloc(0);
        const data = await handler({ ...head, body });
        const envelope = data instanceof WithMeta ? { data: data.data ?? null, ...data.meta } : { data: data ?? null };
        if (!state.aborted) sendJson(res, 200, JSON.stringify(envelope));
      } catch (err) {
        const wire = toWireError(err);
        if (wire.status >= 500) log.error({ err, path: head.path, method: head.method }, 'request failed');
        if (!state.aborted) sendJson(res, wire.status, httpErrorBody(wire));
      }
    })();
  });
}

/** JSON 404 for every other path under /api2/json. */
export function apiNotFound(app: TemplatedApp): void {
  app.any('/api2/json/*', (res, req) => {
    const path = req.getUrl();
    sendJson(res, 404, httpErrorBody(toWireError(bulwarkError('BULWARK_NOT_FOUND', `API path ${path}`))));
  });
}
