/**
 * API tokens `user@realm!name` (PBS keeps them as `token:` sections in
 * user.cfg and their secrets in token.shadow). Here a token's public entry
 * lives under its user in user.json (`tokens: { <name>: TokenEntry }`), so
 * deleting a user drops its tokens with it; secrets live in
 * `<etc>/token.shadow` (0600) as `hmac-sha256$<salt b64>$<mac b64>`.
 *
 * The secret is a random UUID (122 bits), shown once at creation. Unlike a
 * password it needs no slow hash: nobody can brute-force 122 random bits, and
 * tokens are checked on every request, so HMAC-SHA256 keyed by a per-token
 * random salt is enough; comparison is constant-time.
 */
import { createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { bulwarkError } from '../errors.ts';
import { expectObject, readConfigFile, updateConfigFile, type Loaded } from '../config/config-file.ts';
import type { ConfigPaths } from '../config/paths.ts';
import { parseShadow, parseUsers, type ShadowMap, type UserEntry } from '../config/user-config.ts';
import { parseAuthid } from './acl.ts';

export interface TokenEntry {
  readonly tokenid: string;
  readonly enable?: boolean;
  /** Epoch seconds; 0 or absent means never. */
  readonly expire?: number;
  readonly comment?: string;
}

export interface UserWithTokens extends UserEntry {
  /** Keyed by token name (the part after `!`). */
  readonly tokens?: Readonly<Record<string, TokenEntry>>;
}

export type UsersWithTokens = Readonly<Record<string, UserWithTokens>>;
export type TokenPaths = Pick<ConfigPaths, 'userConfig' | 'tokenShadow'>;

const HASH_SCHEME = 'hmac-sha256';

/** parseUsers plus a check of every user's `tokens` map. */
export function parseUsersWithTokens(raw: unknown, file: string): UsersWithTokens {
  const users = parseUsers(raw, file) as UsersWithTokens;
  for (const [userid, user] of Object.entries(users)) {
    if (user.tokens === undefined) continue;
    for (const [name, value] of Object.entries(expectObject(user.tokens, file, `tokens of ${userid}`))) {
      const t = expectObject(value, file, `token ${name} of ${userid}`);
      if (t.tokenid !== `${userid}!${name}`) throw bulwarkError('BULWARK_CONFIG_INVALID', file, `token ${name} of ${userid} has tokenid ${String(t.tokenid)}`);
    }
  }
  return users;
}

export const loadUsersWithTokens = (file: string): Loaded<UsersWithTokens> => readConfigFile(file, parseUsersWithTokens, () => ({}));
export const loadTokenShadow = (file: string): Loaded<ShadowMap> => readConfigFile(file, parseShadow, () => ({}));

export function hashTokenSecret(secret: string, salt: Buffer = randomBytes(16)): string {
  const mac = createHmac('sha256', salt).update(secret).digest();
  return [HASH_SCHEME, salt.toString('base64'), mac.toString('base64')].join('$');
}

// Compared against when the token has no stored hash, so a miss costs the same as a wrong secret.
const DUMMY_HASH = hashTokenSecret(randomUUID());

/** Constant-time check of `secret` against a stored hash (undefined: unknown token → false). */
export function checkTokenSecret(stored: string | undefined, secret: string): boolean {
  const parts = (stored ?? DUMMY_HASH).split('$');
  if (parts.length !== 3 || parts[0] !== HASH_SCHEME) return false;
  const expected = Buffer.from(parts[2]!, 'base64');
  const actual = createHmac('sha256', Buffer.from(parts[1]!, 'base64')).update(secret).digest();
  const same = expected.length === actual.length && timingSafeEqual(expected, actual);
  return same && stored !== undefined;
}

export function findToken(users: UsersWithTokens, tokenid: string): TokenEntry | undefined {
  const { userid, tokenName } = parseAuthid(tokenid);
  if (tokenName === undefined) return undefined;
  const tokens = users[userid]?.tokens;
  return tokens && Object.hasOwn(tokens, tokenName) ? tokens[tokenName] : undefined;
}

export interface CreateTokenOptions {
  readonly comment?: string;
  readonly expire?: number;
  readonly enable?: boolean;
  /** Digest of user.json the caller based this on; a changed file refuses the token (BULWARK_CONFIG_DIGEST). */
  readonly digest?: string;
}

/** Creates `userid!name`; the returned `value` is the secret, never stored in clear nor shown again. */
export function createToken(paths: TokenPaths, userid: string, name: string, options: CreateTokenOptions = {}): { tokenid: string; value: string } {
  const tokenid = `${userid}!${name}`;
  parseAuthid(tokenid); // validates both the user id and the token name
  const current = loadUsersWithTokens(paths.userConfig).data;
  if (!Object.hasOwn(current, userid)) throw bulwarkError('BULWARK_NOT_FOUND', `user ${userid}`);
  if (findToken(current, tokenid)) throw bulwarkError('BULWARK_ALREADY_EXISTS', `token ${tokenid}`);
  // Checked again under the lock below; checking here too writes no secret for a refused token.
  if (options.digest !== undefined && options.digest !== loadUsersWithTokens(paths.userConfig).digest) {
    throw bulwarkError('BULWARK_CONFIG_DIGEST', paths.userConfig);
  }

  const value = randomUUID();
  // Secret first: a crash in between leaves a harmless orphan hash, never a
  // listed token without a secret. Any older orphan hash is overwritten here.
  updateConfigFile<ShadowMap>(paths.tokenShadow, parseShadow, () => ({}), (cur) => ({ ...cur, [tokenid]: hashTokenSecret(value) }));
  const entry: TokenEntry = {
    tokenid,
    enable: options.enable ?? true,
    expire: options.expire ?? 0,
    ...(options.comment !== undefined && { comment: options.comment }),
  };
  updateConfigFile<UsersWithTokens>(paths.userConfig, parseUsersWithTokens, () => ({}), (cur) => {
    const user = cur[userid];
    if (!user) throw bulwarkError('BULWARK_NOT_FOUND', `user ${userid}`);
    if (user.tokens && Object.hasOwn(user.tokens, name)) throw bulwarkError('BULWARK_ALREADY_EXISTS', `token ${tokenid}`);
    return { ...cur, [userid]: { ...user, tokens: { ...user.tokens, [name]: entry } } };
  }, options.digest);
  return { tokenid, value };
}

/** True only if the token is listed under its user and `secret` matches; enable/expire are the caller's business. */
export function verifyTokenSecret(paths: TokenPaths, tokenid: string, secret: string): boolean {
  let listed: boolean;
  try {
    listed = findToken(loadUsersWithTokens(paths.userConfig).data, tokenid) !== undefined;
  } catch {
    listed = false; // malformed token id
  }
  const ok = checkTokenSecret(loadTokenShadow(paths.tokenShadow).data[tokenid], secret);
  return listed && ok;
}

export function deleteToken(paths: TokenPaths, tokenid: string, expectedDigest?: string): void {
  const { userid, tokenName } = parseAuthid(tokenid);
  if (tokenName === undefined) throw bulwarkError('BULWARK_INVALID_NAME', 'token id', tokenid, 'has no !name part');
  // Entry first, then the secret: the token stops working at the first write.
  updateConfigFile<UsersWithTokens>(paths.userConfig, parseUsersWithTokens, () => ({}), (cur) => {
    const user = cur[userid];
    if (!user?.tokens || !Object.hasOwn(user.tokens, tokenName)) throw bulwarkError('BULWARK_NOT_FOUND', `token ${tokenid}`);
    const { [tokenName]: _gone, ...rest } = user.tokens;
    return { ...cur, [userid]: { ...user, tokens: rest } };
  }, expectedDigest);
  updateConfigFile<ShadowMap>(paths.tokenShadow, parseShadow, () => ({}), (cur) => {
    const { [tokenid]: _gone, ...rest } = cur;
    return rest;
  });
}

export function listTokens(paths: TokenPaths, userid: string): TokenEntry[] {
  const user = loadUsersWithTokens(paths.userConfig).data[userid];
  if (!user) throw bulwarkError('BULWARK_NOT_FOUND', `user ${userid}`);
  return Object.values(user.tokens ?? {}).sort((a, b) => a.tokenid.localeCompare(b.tokenid));
}

/** A change to a token's metadata: `null` removes the comment; `expire` 0 means never. */
export interface TokenUpdate {
  readonly comment?: string | null;
  readonly enable?: boolean;
  readonly expire?: number;
}

export function updateToken(paths: TokenPaths, tokenid: string, change: TokenUpdate, expectedDigest?: string): TokenEntry {
  const { userid, tokenName } = parseAuthid(tokenid);
  if (tokenName === undefined) throw bulwarkError('BULWARK_INVALID_NAME', 'token id', tokenid, 'has no !name part');
  let updated: TokenEntry | undefined;
  updateConfigFile<UsersWithTokens>(paths.userConfig, parseUsersWithTokens, () => ({}), (cur) => {
    const user = cur[userid];
    if (!user?.tokens || !Object.hasOwn(user.tokens, tokenName)) throw bulwarkError('BULWARK_NOT_FOUND', `token ${tokenid}`);
    const { comment: oldComment, ...kept } = user.tokens[tokenName]!;
    const comment = change.comment === null ? undefined : change.comment ?? oldComment;
    updated = {
      ...kept,
      ...(comment !== undefined && { comment }),
      ...(change.enable !== undefined && { enable: change.enable }),
      ...(change.expire !== undefined && { expire: change.expire }),
    };
    return { ...cur, [userid]: { ...user, tokens: { ...user.tokens, [tokenName]: updated } } };
  }, expectedDigest);
  return updated!;
}

/**
 * Removes a user and its tokens: the user entry first (its tokens live under
 * it, so every credential stops working at that one write), then the
 * tokens' secrets. ACL entries and the password hash are the caller's.
 * Returns the ids of the tokens that went with the user.
 */
export function deleteUserWithTokens(paths: TokenPaths, userid: string, expectedDigest?: string): string[] {
  let gone: string[] = [];
  updateConfigFile<UsersWithTokens>(paths.userConfig, parseUsersWithTokens, () => ({}), (cur) => {
    if (!Object.hasOwn(cur, userid)) throw bulwarkError('BULWARK_NOT_FOUND', `user ${userid}`);
    gone = Object.values(cur[userid]!.tokens ?? {}).map((t) => t.tokenid);
    const { [userid]: _gone, ...rest } = cur;
    return rest;
  }, expectedDigest);
  // Also any orphan secret of this user (a crash between the two writes of createToken).
  updateConfigFile<ShadowMap>(paths.tokenShadow, parseShadow, () => ({}), (cur) =>
    Object.fromEntries(Object.entries(cur).filter(([id]) => !id.startsWith(`${userid}!`))));
  return gone;
}
