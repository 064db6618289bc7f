/**
 * The access-control facade the transport uses: login (password or ticket
 * renewal, then a second factor when the user has one: tfa.ts;
 * rate-limited), request authentication, privilege lookup and
 * checks. Config files are re-read only when they change (inode, size and
 * mtime are compared on each use), so edits by the admin API or
 * bulwark-manager apply to the next request without a restart.
 */
import { statSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { bulwarkError } from '../errors.ts';
import type { ConfigPaths } from '../config/paths.ts';
import { loadAcl, loadShadow, type ShadowMap } from '../config/user-config.ts';
import { AclTree, parseAuthid, satisfies, splitAclPath, type ParsedAuthid } from './acl.ts';
import { authenticate, isActive, requireCsrf, type AuthContext, type AuthState, type RequestHeaders } from './authenticate.ts';
import { LoginLimiter } from './login-limiter.ts';
import { hashPassword, verifyPassword } from './password.ts';
import type { Privilege, PrivilegeSet } from './privileges.ts';
import { TfaService } from './tfa.ts';
import { AuthKeys, TICKET_PREFIX } from './tickets.ts';
import { findToken, loadTokenShadow, loadUsersWithTokens, type UsersWithTokens } from './tokens.ts';

/** The one realm with passwords of its own; others (pam, ldap…) would plug in here. */
export const PBS_REALM = 'pbs';

export interface AuthServiceOptions {
  /** Epoch milliseconds. */
  readonly now?: () => number;
  readonly limiter?: LoginLimiter;
}

/** PBS's reply to POST /access/ticket. */
export interface LoginResult {
  readonly username: string;
  readonly ticket: string;
  readonly CSRFPreventionToken: string;
  /** Set on a partial ticket: the login needs its second factor (PVE's flag; PBS clients look at the ticket). */
  readonly NeedTFA?: 1;
}

const isTicket = (password: string): boolean => password.startsWith(`${TICKET_PREFIX}:`);

/** A loaded file plus the stat key it was loaded under; reloaded when the key changes. */
class CachedFile<T> {
  private key: string | undefined;
  private value: T | undefined;

  constructor(private readonly file: string, private readonly load: (file: string) => T) {}

  get(): T {
    const st = statSync(this.file, { bigint: true, throwIfNoEntry: false });
    const key = st ? `${st.ino}:${st.size}:${st.mtimeNs}` : 'absent';
    if (key !== this.key || this.value === undefined) {
      this.value = this.load(this.file);
      this.key = key;
    }
    return this.value;
  }
}

export class AuthService implements AuthState {
  readonly keys: AuthKeys;
  readonly limiter: LoginLimiter;
  readonly tfa: TfaService;
  private readonly now: () => number;
  private readonly userFile: CachedFile<UsersWithTokens>;
  private readonly shadowFile: CachedFile<ShadowMap>;
  private readonly tokenShadowFile: CachedFile<ShadowMap>;
  private readonly aclFile: CachedFile<AclTree>;
  private dummyHash: string | undefined;

  constructor(paths: ConfigPaths, options: AuthServiceOptions = {}) {
    this.now = options.now ?? Date.now;
    this.limiter = options.limiter ?? new LoginLimiter({ now: this.now });
    this.keys = AuthKeys.load(paths);
    this.tfa = new TfaService(paths.tfaConfig, paths.authKey, this.now);
    this.userFile = new CachedFile(paths.userConfig, (f) => loadUsersWithTokens(f).data);
    this.shadowFile = new CachedFile(paths.shadow, (f) => loadShadow(f).data);
    this.tokenShadowFile = new CachedFile(paths.tokenShadow, (f) => loadTokenShadow(f).data);
    this.aclFile = new CachedFile(paths.aclConfig, (f) => new AclTree(loadAcl(f).data));
  }

  users(): UsersWithTokens {
    return this.userFile.get();
  }

  tokenShadow(): ShadowMap {
    return this.tokenShadowFile.get();
  }

  /**
   * Password login, or ticket renewal when `password` is a valid ticket of
   * the same user (PBS clients renew that way), or with `tfaChallenge` (a
   * partial ticket) the second step, `password` then being the response.
   * Every failure, whatever its reason (second factor included), is the same
   * BULWARK_UNAUTHORIZED and counts for the limiter.
   * Async so a slower realm (PAM, LDAP) or an async scrypt can come later
   * without changing callers.
   */
  async login(username: string, password: string, remoteAddr: string, tfaChallenge?: string): Promise<LoginResult> {
    const nowMs = this.now();
    this.limiter.check(username, remoteAddr);
    const userid = tfaChallenge === undefined
      ? await this.verifyCredentials(username, password, nowMs)
      : this.verifySecondFactor(username, tfaChallenge, password, nowMs);
    if (userid === undefined) {
      this.limiter.recordFailure(username, remoteAddr);
      throw bulwarkError('BULWARK_UNAUTHORIZED', 'invalid credentials');
    }
    // A password login of a user with second factors gets a partial ticket
    // (see tfa.ts) instead; PBS sends CSRFPreventionToken "invalid" with it.
    // The limiter is not reset then, so a known password buys no endless
    // second-factor guesses. Renewal with a full ticket needs no second
    // factor: that ticket was only issued after one.
    const challenge = tfaChallenge === undefined && !isTicket(password) ? this.tfa.challenge(userid) : undefined;
    if (challenge) {
      return { username: userid, ticket: this.tfa.createPartialTicket(userid, challenge, nowMs), CSRFPreventionToken: 'invalid', NeedTFA: 1 };
    }
    this.limiter.recordSuccess(username);
    return { username: userid, ticket: this.keys.createTicket(userid, nowMs), CSRFPreventionToken: this.keys.createCsrf(userid, nowMs) };
  }

  /**
   * Second step (PBS `authenticate_2nd`): `challengeTicket` is the partial
   * ticket, `response` is `totp:<code>` or `recovery:<code>`. The user id if
   * the ticket is this active user's and the response matches (and is now used up).
   */
  private verifySecondFactor(username: string, challengeTicket: string, response: string, nowMs: number): string | undefined {
    let userid: string;
    try {
      const who = parseAuthid(username);
      if (who.tokenName !== undefined || !isActive(this.users()[who.userid], nowMs)) return undefined;
      userid = who.userid;
      this.tfa.verifyPartialTicket(challengeTicket, userid, nowMs);
    } catch {
      return undefined;
    }
    return this.tfa.respond(userid, response, nowMs) ? userid : undefined;
  }

  /**
   * Re-authentication before changing second factors (PBS `tfa_update_auth`):
   * the password of `userid` itself, never a ticket. Failures count for the
   * limiter, so a stolen session cannot guess passwords here either.
   */
  async confirmPassword(userid: string, password: string, remoteAddr: string): Promise<void> {
    this.limiter.check(userid, remoteAddr);
    if (isTicket(password) || (await this.verifyCredentials(userid, password, this.now())) !== userid) {
      this.limiter.recordFailure(userid, remoteAddr);
      throw bulwarkError('BULWARK_UNAUTHORIZED', 'invalid credentials');
    }
  }

  /** The user id if the credentials are good and the account active; undefined otherwise. */
  private async verifyCredentials(username: string, password: string, nowMs: number): Promise<string | undefined> {
    let who: ParsedAuthid | undefined;
    try {
      who = parseAuthid(username);
    } catch {
      who = undefined;
    }
    const user = who && who.tokenName === undefined ? this.users()[who.userid] : undefined;
    if (who && isTicket(password)) {
      let ticketUser: string | undefined;
      try {
        ticketUser = this.keys.verifyTicket(password, nowMs);
      } catch {
        ticketUser = undefined;
      }
      return ticketUser === who.userid && isActive(user, nowMs) ? who.userid : undefined;
    }
    const hash = who?.realm === PBS_REALM && user ? this.shadowFile.get()[who.userid] : undefined;
    // Hash even when there is nothing to compare with, so timing does not tell whether the user exists.
    const ok = await verifyPassword(password, hash ?? this.dummy());
    return ok && hash !== undefined && isActive(user, nowMs) ? who!.userid : undefined;
  }

  private dummy(): string {
    return (this.dummyHash ??= hashPassword(randomUUID()));
  }

  /**
   * `remoteAddr` is not used yet; it is part of the contract so failed
   * authentications can be logged or limited per address later.
   */
  authenticate(headers: RequestHeaders, remoteAddr: string): AuthContext {
    void remoteAddr;
    return authenticate(this, headers, this.now());
  }

  /** Throws BULWARK_UNAUTHORIZED if a ticket-authenticated write lacks a valid CSRF token. */
  requireCsrf(ctx: AuthContext, headers: RequestHeaders): void {
    requireCsrf(ctx, headers, this.keys, this.now());
  }

  /** Is the auth id (and for a token, its user too) still enabled and unexpired? For long sessions. */
  isActive(authid: string): boolean {
    const { userid, tokenName } = parseAuthid(authid);
    const users = this.users();
    const nowMs = this.now();
    if (!isActive(users[userid], nowMs)) return false;
    return tokenName === undefined || isActive(findToken(users, authid), nowMs);
  }

  /** Effective privileges on `path` (a token's are capped by its user's). */
  privileges(authid: string, path: string): PrivilegeSet {
    return this.aclFile.get().privileges(authid, path);
  }

  /**
   * Throws BULWARK_FORBIDDEN unless `authid` holds `need` on `path` (all of
   * them, or with `partial` at least one). Check before looking at whether
   * the resource exists, so the error leaks nothing.
   */
  check(authid: string, path: string, need: Privilege | readonly Privilege[], options: { partial?: boolean } = {}): void {
    const needs: readonly Privilege[] = typeof need === 'string' ? [need] : need;
    const partial = options.partial ?? false;
    const shown = `/${splitAclPath(path).join('/')}`;
    if (!satisfies(this.privileges(authid, path), needs, partial)) {
      throw bulwarkError('BULWARK_FORBIDDEN', authid, `${needs.join(partial ? '|' : '&')} on ${shown}`);
    }
  }
}
