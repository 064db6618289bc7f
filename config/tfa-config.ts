/**
 * etc/tfa.json: each user's second factors, in PBS's tfa.json shape
 * (proxmox-tfa `TfaConfig`):
 *
 *   { "users": { "<userid>": {
 *       "totp": [ { "id", "description", "created", "enable", "entry": "otpauth://totp/…",
 *                   "last-step" } ],
 *       "recovery": { "secret": "<hex salt>", "entries": ["<hex HMAC>" | null, …], "created" } } } }
 *
 * A TOTP entry keeps its key as the otpauth:// URI it was registered with.
 * `last-step` is Bulwark's addition: the RFC 6238 time step of the last code
 * accepted, so the same code (or an older one) is never accepted twice.
 * Recovery codes are stored only as HMAC-SHA256 under a per-user random salt,
 * as PBS does; a used code becomes `null`, so the user's printed list keeps
 * its numbering. The file holds secrets: mode 0600, written atomically under
 * the config lock with the digest discipline of config-file.ts.
 */
import { bulwarkError } from '../errors.ts';
import { expectObject, readConfigFile, updateConfigFile, type Loaded } from './config-file.ts';

/** What the API shows of an entry (PBS `TfaInfo`). */
export interface TfaInfo {
  readonly id: string;
  readonly description: string;
  /** Epoch seconds. */
  readonly created: number;
  readonly enable: boolean;
}

export interface TotpEntry extends TfaInfo {
  /** otpauth://totp/… URI holding the secret. */
  readonly entry: string;
  /** Time step of the last accepted code (replay guard). */
  readonly 'last-step'?: number;
}

export interface RecoveryData {
  /** Hex salt, the HMAC key. */
  readonly secret: string;
  /** Hex HMAC-SHA256 of each code; null once used. */
  readonly entries: readonly (string | null)[];
  /** Epoch seconds. */
  readonly created: number;
}

export interface TfaUserData {
  readonly totp: readonly TotpEntry[];
  readonly recovery?: RecoveryData;
}

export interface TfaConfig {
  readonly users: Readonly<Record<string, TfaUserData>>;
}

export type TfaType = 'totp' | 'recovery';

/** PBS `TypedTfaInfo`: description omitted when empty, enable when true (as PBS serialises it). */
export interface TypedTfaInfo {
  readonly type: TfaType;
  readonly id: string;
  readonly description?: string;
  readonly created: number;
  readonly enable?: false;
}

/** The recovery set's fixed id (PBS). */
export const RECOVERY_ID = 'recovery';

const emptyConfig = (): TfaConfig => ({ users: {} });

function invalid(file: string, what: string): never {
  throw bulwarkError('BULWARK_CONFIG_INVALID', file, what);
}

const isEpoch = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

function parseTotp(raw: unknown, file: string, where: string): TotpEntry {
  const o = expectObject(raw, file, where);
  if (typeof o.id !== 'string' || o.id.length === 0) invalid(file, `${where}.id must be a non-empty string`);
  if (o.description !== undefined && typeof o.description !== 'string') invalid(file, `${where}.description must be a string`);
  if (!isEpoch(o.created)) invalid(file, `${where}.created must be epoch seconds`);
  if (o.enable !== undefined && typeof o.enable !== 'boolean') invalid(file, `${where}.enable must be a boolean`);
  if (typeof o.entry !== 'string' || !o.entry.startsWith('otpauth://totp/')) invalid(file, `${where}.entry must be an otpauth://totp/ URI`);
  if (o['last-step'] !== undefined && !isEpoch(o['last-step'])) invalid(file, `${where}.last-step must be a time step`);
  return {
    id: o.id, description: (o.description as string | undefined) ?? '', created: o.created, enable: (o.enable as boolean | undefined) ?? true,
    entry: o.entry, ...(o['last-step'] !== undefined && { 'last-step': o['last-step'] as number }),
  };
}

function parseRecovery(raw: unknown, file: string, where: string): RecoveryData {
  const o = expectObject(raw, file, where);
  if (typeof o.secret !== 'string' || !/^[0-9a-f]{16,}$/.test(o.secret)) invalid(file, `${where}.secret must be a hex salt`);
  if (!Array.isArray(o.entries) || o.entries.some((e) => e !== null && (typeof e !== 'string' || !/^[0-9a-f]{64}$/.test(e)))) {
    invalid(file, `${where}.entries must be a list of hex HMACs or null`);
  }
  if (!isEpoch(o.created)) invalid(file, `${where}.created must be epoch seconds`);
  return { secret: o.secret, entries: o.entries as (string | null)[], created: o.created };
}

export function parseTfaConfig(raw: unknown, file: string): TfaConfig {
  const top = expectObject(raw, file, 'tfa config');
  const users: Record<string, TfaUserData> = {};
  for (const [userid, value] of Object.entries(expectObject(top.users ?? {}, file, 'users'))) {
    const u = expectObject(value, file, `users.${userid}`);
    if (u.totp !== undefined && !Array.isArray(u.totp)) invalid(file, `users.${userid}.totp must be a list`);
    const totp = ((u.totp as unknown[] | undefined) ?? []).map((e, i) => parseTotp(e, file, `users.${userid}.totp[${i}]`));
    if (new Set(totp.map((e) => e.id)).size !== totp.length) invalid(file, `users.${userid} has duplicate entry ids`);
    const recovery = u.recovery === undefined || u.recovery === null ? undefined : parseRecovery(u.recovery, file, `users.${userid}.recovery`);
    users[userid] = { totp, ...(recovery && { recovery }) };
  }
  return { users };
}

export function loadTfaConfig(file: string): Loaded<TfaConfig> {
  return readConfigFile(file, parseTfaConfig, emptyConfig);
}

/**
 * Read-modify-write under the config lock; throwing from `update` writes
 * nothing. BULWARK_CONFIG_DIGEST when `expectedDigest` is stale.
 */
export function updateTfaConfig(file: string, update: (current: TfaConfig) => TfaConfig, expectedDigest?: string): Loaded<TfaConfig> {
  return updateConfigFile(file, parseTfaConfig, emptyConfig, update, expectedDigest);
}

/** True when the user has any entry at all, enabled or not (PBS `is_empty` negated). */
export function hasEntries(user: TfaUserData | undefined): user is TfaUserData {
  return user !== undefined && (user.totp.length > 0 || user.recovery !== undefined);
}

/** `cfg` with `userid`'s data replaced; a user left without entries is dropped, as PBS does. */
export function withUser(cfg: TfaConfig, userid: string, user: TfaUserData | undefined): TfaConfig {
  const users = { ...cfg.users };
  if (hasEntries(user)) users[userid] = user;
  else delete users[userid];
  return { users };
}

function typed(type: TfaType, info: Pick<TfaInfo, 'id' | 'created'> & Partial<TfaInfo>): TypedTfaInfo {
  return {
    type, id: info.id, ...(info.description && { description: info.description }), created: info.created,
    ...(info.enable === false && { enable: false as const }),
  };
}

/** The API view of a user's entries: recovery first, then TOTP (PBS's order). No secrets. */
export function typedEntries(user: TfaUserData | undefined): TypedTfaInfo[] {
  if (!user) return [];
  return [
    ...(user.recovery ? [typed('recovery', { id: RECOVERY_ID, created: user.recovery.created })] : []),
    ...user.totp.map((e) => typed('totp', e)),
  ];
}
