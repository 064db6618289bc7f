/**
 * Second factors under /access/tfa, PBS's API (src/api2/access/tfa.rs):
 * - `GET /access/tfa` lists `[{ userid, entries }]`: every user's with
 *   Sys.Audit on /access/users, otherwise only the caller's own;
 * - `GET /access/tfa/{userid}` the entries `{ type, id, description?, created, enable? }`;
 * - `POST /access/tfa/{userid}` adds `type=totp` (`totp` URI, `value` = a
 *   current code proving the authenticator has it, `description`) → `{ id }`,
 *   or `type=recovery` → `{ id: "recovery", recovery: [codes] }`, shown this once;
 * - `GET|PUT|DELETE /access/tfa/{userid}/{id}` one entry (PUT: `description`, `enable`).
 * Access: the user themself (the auth id equal to `userid`; a token is not
 * its user) or Permissions.Modify on /access/users. Every change also needs
 * `password`, the caller's own (PBS asks it of all but root@pam, which
 * Bulwark does not have), so a stolen session cannot swap the second factor.
 * Secrets are never returned after creation and never logged.
 */
import { parseAuthid } from '../../auth/acl.ts';
import type { AuthContext } from '../../auth/authenticate.ts';
import { bulwarkError } from '../../errors.ts';
import { apiRoute, type ApiRequest } from '../http-api.ts';
import { requestParams, type Params } from '../params.ts';
import type { TemplatedApp } from '../uws.ts';
import { authenticated, authenticatedWrite, type ApiContext } from '../api-context.ts';

const USERS_PATH = '/access/users';
const MAX_DESCRIPTION = 255;

function useridParam(req: ApiRequest): string {
  const userid = req.params.userid!;
  let tokenName: string | undefined;
  try {
    tokenName = parseAuthid(userid).tokenName;
  } catch {
    throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'userid', JSON.stringify(userid));
  }
  if (tokenName !== undefined) throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'userid', 'API tokens have no second factors');
  return userid;
}

/** PBS: `Permission::Or(Privilege(/access/users, Permissions.Modify), UserParam("userid"))`. */
function checkAccess(ctx: ApiContext, who: AuthContext, userid: string): void {
  if (who.authid === userid) return;
  ctx.auth.check(who.authid, USERS_PATH, 'Permissions.Modify');
}

/** Access, then the caller's password (PBS `tfa_update_auth`), then, when adding, that the user exists. */
async function authorizeChange(ctx: ApiContext, req: ApiRequest, mustExist: boolean): Promise<{ userid: string; p: Params }> {
  const who = authenticatedWrite(ctx, req);
  const userid = useridParam(req);
  checkAccess(ctx, who, userid);
  const p = requestParams(req);
  const password = p.string('password');
  if (password === undefined) throw bulwarkError('BULWARK_UNAUTHORIZED', 'missing password');
  await ctx.auth.confirmPassword(who.userid, password, req.remoteAddress);
  if (mustExist && ctx.auth.users()[userid] === undefined) throw bulwarkError('BULWARK_NOT_FOUND', `user ${userid}`);
  return { userid, p };
}

function description(p: Params, required: boolean): string | undefined {
  const d = required ? p.required('description') : p.string('description');
  if (d !== undefined && (d.length > MAX_DESCRIPTION || /[\x00-\x1f\x7f]/.test(d))) {
    throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'description', `at most ${MAX_DESCRIPTION} characters, no control characters`);
  }
  return d;
}

export function tfaRoutes(app: TemplatedApp, ctx: ApiContext): void {
  apiRoute(app, ctx.log, 'get', '/access/tfa', (req) => {
    const who = authenticated(ctx, req);
    const all = ctx.auth.privileges(who.authid, USERS_PATH).has('Sys.Audit');
    return ctx.auth.tfa.list(all ? undefined : who.userid);
  });

  apiRoute(app, ctx.log, 'get', '/access/tfa/:userid', (req) => {
    const who = authenticated(ctx, req);
    const userid = useridParam(req);
    checkAccess(ctx, who, userid);
    return ctx.auth.tfa.entries(userid);
  });

  apiRoute(app, ctx.log, 'post', '/access/tfa/:userid', async (req) => {
    const { userid, p } = await authorizeChange(ctx, req, true);
    const type = p.required('type');
    if (type === 'totp') {
      if (p.string('challenge') !== undefined) throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'challenge', "invalid for 'totp' entries");
      const desc = description(p, true)!;
      return { id: ctx.auth.tfa.addTotp(userid, desc, p.required('totp'), p.required('value')) };
    }
    if (type === 'recovery') {
      for (const extra of ['totp', 'value', 'challenge']) {
        if (p.string(extra) !== undefined) throw bulwarkError('BULWARK_INVALID_ARGUMENT', extra, 'generating recovery codes takes no further parameters');
      }
      return { id: 'recovery', recovery: ctx.auth.tfa.addRecovery(userid) };
    }
    throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'type', `${JSON.stringify(type)} is not supported (totp or recovery)`);
  });

  apiRoute(app, ctx.log, 'get', '/access/tfa/:userid/:id', (req) => {
    const who = authenticated(ctx, req);
    const userid = useridParam(req);
    checkAccess(ctx, who, userid);
    return ctx.auth.tfa.entry(userid, req.params.id!);
  });

  apiRoute(app, ctx.log, 'put', '/access/tfa/:userid/:id', async (req) => {
    const { userid, p } = await authorizeChange(ctx, req, true);
    const desc = description(p, false);
    const enable = p.bool('enable');
    ctx.auth.tfa.update(userid, req.params.id!, { ...(desc !== undefined && { description: desc }), ...(enable !== undefined && { enable }) });
    return null;
  });

  apiRoute(app, ctx.log, 'del', '/access/tfa/:userid/:id', async (req) => {
    const { userid } = await authorizeChange(ctx, req, false);
    ctx.auth.tfa.remove(userid, req.params.id!);
    return null;
  });
}
