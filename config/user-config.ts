/**
 * user.json (users of realm pbs, PBS field names), shadow.json (their scrypt
 * hashes, kept apart so listing users never touches secrets) and acl.json.
 * The full user/token/ACL management lives in auth/; this module holds the
 * file formats, what first start needs, and the one-file read-modify-write
 * steps (each digest-checked) that the admin API composes.
 */
import { bulwarkError } from '../errors.ts';
import { expectObject, readConfigFile, updateConfigFile, type Loaded } from './config-file.ts';

export interface UserEntry {
  readonly userid: string;
  readonly enable?: boolean;
  /** Epoch seconds; 0 or absent means never. */
  readonly expire?: number;
  readonly comment?: string;
  readonly email?: string;
  readonly firstname?: string;
  readonly lastname?: string;
}

export interface AclEntry {
  readonly path: string;
  readonly ugid: string;
  readonly roleid: string;
  readonly propagate: boolean;
}

export type UserMap = Readonly<Record<string, UserEntry>>;
export type ShadowMap = Readonly<Record<string, string>>;

export function parseUsers(raw: unknown, file: string): UserMap {
  const top = expectObject(raw, file, 'user config');
  for (const [id, value] of Object.entries(top)) {
    const u = expectObject(value, file, `user ${id}`);
    if (u.userid !== id) throw bulwarkError('BULWARK_CONFIG_INVALID', file, `user ${id} has userid ${String(u.userid)}`);
  }
  return top as unknown as UserMap;
}

export function parseShadow(raw: unknown, file: string): ShadowMap {
  const top = expectObject(raw, file, 'shadow');
  for (const [id, value] of Object.entries(top)) {
    if (typeof value !== 'string') throw bulwarkError('BULWARK_CONFIG_INVALID', file, `hash of ${id} must be a string`);
  }
  return top as ShadowMap;
}

export function parseAcl(raw: unknown, file: string): readonly AclEntry[] {
  if (!Array.isArray(raw)) throw bulwarkError('BULWARK_CONFIG_INVALID', file, 'acl must be a list');
  for (const [i, e] of raw.entries()) {
    const o = expectObject(e, file, `acl entry ${i}`);
    if (typeof o.path !== 'string' || typeof o.ugid !== 'string' || typeof o.roleid !== 'string' || typeof o.propagate !== 'boolean') {
      throw bulwarkError('BULWARK_CONFIG_INVALID', file, `acl entry ${i} needs path, ugid, roleid and propagate`);
    }
  }
  return raw as AclEntry[];
}

export const loadUsers = (file: string): Loaded<UserMap> => readConfigFile(file, parseUsers, () => ({}));
export const loadShadow = (file: string): Loaded<ShadowMap> => readConfigFile(file, parseShadow, () => ({}));
export const loadAcl = (file: string): Loaded<readonly AclEntry[]> => readConfigFile(file, parseAcl, () => []);

export function saveUser(file: string, user: UserEntry, expectedDigest?: string): Loaded<UserMap> {
  return updateConfigFile(file, parseUsers, () => ({}), (cur) => ({ ...cur, [user.userid]: user }), expectedDigest);
}

export function savePasswordHash(file: string, userid: string, hash: string): Loaded<ShadowMap> {
  return updateConfigFile(file, parseShadow, () => ({}), (cur) => ({ ...cur, [userid]: hash }));
}

export function addAclEntry(file: string, entry: AclEntry, expectedDigest?: string): Loaded<readonly AclEntry[]> {
  return updateConfigFile(file, parseAcl, () => [], (cur) => [
    ...cur.filter((e) => !(e.path === entry.path && e.ugid === entry.ugid && e.roleid === entry.roleid)),
    entry,
  ], expectedDigest);
}

/** Adds a user that must not exist yet (BULWARK_ALREADY_EXISTS), checked under the file lock. */
export function createUser(file: string, user: UserEntry, expectedDigest?: string): Loaded<UserMap> {
  return updateConfigFile<UserMap>(file, parseUsers, () => ({}), (cur) => {
    if (Object.hasOwn(cur, user.userid)) throw bulwarkError('BULWARK_ALREADY_EXISTS', `user ${user.userid}`);
    return { ...cur, [user.userid]: user };
  }, expectedDigest);
}

/**
 * Read-modify-write of one existing user (BULWARK_NOT_FOUND otherwise).
 * `update` gets the stored entry with fields this module does not know
 * (auth/tokens.ts keeps `tokens` there) and must carry them over: spread it.
 */
export function updateUser(file: string, userid: string, update: (current: UserEntry) => UserEntry, expectedDigest?: string): Loaded<UserMap> {
  return updateConfigFile<UserMap>(file, parseUsers, () => ({}), (cur) => {
    const user = Object.hasOwn(cur, userid) ? cur[userid] : undefined;
    if (!user) throw bulwarkError('BULWARK_NOT_FOUND', `user ${userid}`);
    return { ...cur, [userid]: { ...update(user), userid } };
  }, expectedDigest);
}

export function deletePasswordHash(file: string, userid: string): Loaded<ShadowMap> {
  return updateConfigFile<ShadowMap>(file, parseShadow, () => ({}), (cur) => {
    const { [userid]: _gone, ...rest } = cur;
    return rest;
  });
}

/** Drops every entry `match` selects (none matching is no error, as PBS's delete). */
export function removeAclEntries(file: string, match: (e: AclEntry) => boolean, expectedDigest?: string): Loaded<readonly AclEntry[]> {
  return updateConfigFile(file, parseAcl, () => [], (cur) => cur.filter((e) => !match(e)), expectedDigest);
}
