/**
 * /api2/json/access/ticket, as PBS (src/api2/access/mod.rs):
 * - POST with `username` (`name@realm`, or `name` plus `realm`) and
 *   `password` (or a still-valid ticket of the same user, to renew it), as
 *   application/x-www-form-urlencoded (what PBS clients send) or JSON →
 *   `{ data: { username, ticket, CSRFPreventionToken } }`.
 * - GET returns `{ data: null }`: the web UI "logs in" through it with the
 *   cookie it already has.
 * Wrong credentials of any kind get one generic 401, so the reply never
 * tells whether a user exists.
 */
import type { Logger } from 'pino';
import type { AuthService } from '../../auth/auth-service.ts';
import { bulwarkError } from '../../errors.ts';
import { apiRoute, type ApiRequest } from '../http-api.ts';
import type { TemplatedApp } from '../uws.ts';

/** Body parameters as strings: JSON object or url-encoded form, chosen by Content-Type. */
export function bodyParams(req: ApiRequest): Map<string, string> {
  const out = new Map<string, string>();
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  const text = req.body.toString('utf8');
  if (type === 'application/json') {
    let raw: unknown;
    try {
      raw = text.length === 0 ? {} : JSON.parse(text);
    } catch {
      throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'request body', 'not valid JSON');
    }
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'request body', 'expected a JSON object');
    for (const [k, v] of Object.entries(raw)) if (typeof v === 'string') out.set(k, v);
    return out;
  }
  for (const [k, v] of new URLSearchParams(text)) out.set(k, v);
  return out;
}

/** `admin@pbs` stays; `admin` with realm `pbs` becomes `admin@pbs`; `admin` alone defaults to realm pbs. */
export function qualifyUsername(username: string, realm: string | undefined): string {
  if (username.includes('@')) return username;
  return `${username}@${realm && realm.length > 0 ? realm : 'pbs'}`;
}

export function accessRoutes(app: TemplatedApp, log: Logger, auth: AuthService): void {
  apiRoute(app, log, 'get', '/access/ticket', () => null);

  apiRoute(app, log, 'post', '/access/ticket', async (req) => {
    const params = bodyParams(req);
    const username = params.get('username');
    const password = params.get('password');
    if (!username) throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'username', 'missing');
    if (password === undefined) throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'password', 'missing');
    const userid = qualifyUsername(username, params.get('realm'));
    try {
      return await auth.login(userid, password, req.remoteAddress);
    } catch (err) {
      // Never log the password; the user name and address are what an operator needs.
      log.info({ user: userid, remote: req.remoteAddress, code: (err as { code?: string }).code }, 'login failed');
      throw err;
    }
  });
}
