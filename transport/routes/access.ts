/**
 * /api2/json/access/ticket, as PBS (src/api2/access/mod.rs):
 * - POST with `username` (`name@realm`, or `name` plus `realm`) and
 *   `password` (or a still-valid ticket of the same user, to renew it), as
 *   application/x-www-form-urlencoded (what PBS clients send) or JSON →
 *   `{ data: { username, ticket, CSRFPreventionToken } }`. A user with
 *   second factors gets a partial ticket (`PBS:!tfa!…`, CSRFPreventionToken
 *   "invalid", `NeedTFA: 1`) and completes the login with a second POST:
 *   `tfa-challenge` = that partial ticket, `password` = `totp:<code>` or
 *   `recovery:<code>` (PBS's parameters, auth/tfa.ts).
 * - GET returns `{ data: null }`: the web UI "logs in" through it with the
 *   cookie it already has.
 * Wrong credentials of any kind get one generic 401, so the reply never
 * tells whether a user exists.
 */
import type { Logger } from 'pino';
import type { AuthService } from '../../auth/auth-service.ts';
import { bulwarkError } from '../../errors.ts';
import { apiRoute } from '../http-api.ts';
import { bodyParams } from '../params.ts';
import type { TemplatedApp } from '../uws.ts';

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
      return await auth.login(userid, password, req.remoteAddress, params.get('tfa-challenge') || undefined);
    } catch (err) {
      // Never log the password, code or ticket; the user name and address are what an operator needs.
      log.info({ user: userid, remote: req.remoteAddress, code: (err as { code?: string }).code }, 'login failed');
      throw err;
    }
  });
}
