/**
 * Second factors as PBS has them (proxmox-tfa, proxmox-auth-api): TOTP
 * (RFC 6238, through otplib) and single-use recovery codes, plus the
 * partial ticket that carries a login from the password step to the
 * second-factor step.
 *
 * Login: a password login of a user with second factors gets, instead of a
 * ticket, `PBS:!tfa!<challenge JSON>:<HEX time>::<sig>` where the signature
 * (Ed25519, the ticket key) also covers `:<userid>` (PBS's "aad"), so it
 * names the user without being usable as an auth id: `verifyTicket` refuses
 * it as malformed and it authenticates no API call. It lives 10 minutes
 * (PBS: -60..600 s). The client then posts `tfa-challenge=<partial ticket>`
 * and `password=totp:<code>` or `password=recovery:<code>`.
 *
 * TOTP codes are accepted one step either side of now (PBS's -1..=1), and
 * never at or before the step of the last accepted code of that entry
 * (replay guard, kept in tfa.json). Recovery codes: ten of
 * `xxxx-xxxx-xxxx-xxxx` (64 random bits each), stored as HMAC-SHA256 under
 * a random salt, compared in constant time, each cleared when used. Every
 * check-and-consume runs under the config file lock, so two logins racing
 * with one code cannot both win.
 */
import { createHmac, createPrivateKey, createPublicKey, randomBytes, randomUUID, sign, timingSafeEqual, verify, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { generateSync, verifySync } from 'otplib';
import { bulwarkError } from '../errors.ts';
import {
  hasEntries, loadTfaConfig, RECOVERY_ID, typedEntries, updateTfaConfig, withUser,
  type RecoveryData, type TfaConfig, type TfaUserData, type TotpEntry, type TypedTfaInfo,
} from '../config/tfa-config.ts';
import { TICKET_PREFIX } from './tickets.ts';

// ── TOTP ──────────────────────────────────────────────────────────────────

export interface TotpKey {
  /** Base32. */
  readonly secret: string;
  readonly algorithm: 'sha1' | 'sha256' | 'sha512';
  readonly digits: 6 | 8;
  /** Seconds per step. */
  readonly period: number;
}

const badUri = (why: string) => bulwarkError('BULWARK_INVALID_ARGUMENT', 'totp', why);

/** Parses and checks `otpauth://totp/<label>?secret=…[&algorithm&digits&period&issuer]`; BULWARK_INVALID_ARGUMENT otherwise. */
export function parseTotpUri(uri: string): TotpKey {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw badUri('not a URI');
  }
  if (url.protocol !== 'otpauth:' || url.host !== 'totp') throw badUri('expected an otpauth://totp/ URI');
  const q = url.searchParams;
  const secret = (q.get('secret') ?? '').replace(/[\s=]/g, '').toUpperCase();
  const algorithm = (q.get('algorithm') ?? 'SHA1').toLowerCase();
  const digits = Number(q.get('digits') ?? 6);
  const period = Number(q.get('period') ?? 30);
  if (algorithm !== 'sha1' && algorithm !== 'sha256' && algorithm !== 'sha512') throw badUri(`unsupported algorithm ${algorithm}`);
  if (digits !== 6 && digits !== 8) throw badUri('digits must be 6 or 8');
  if (!Number.isInteger(period) || period < 10 || period > 300) throw badUri('period must be 10 to 300 seconds');
  const key: TotpKey = { secret, algorithm, digits, period };
  try {
    generateSync({ ...key, epoch: 0 }); // otplib checks the secret: base32, at least 128 bits
  } catch (err) {
    throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'totp', `bad secret: ${(err as Error).message}`, { cause: err });
  }
  return key;
}

/**
 * The time step `code` matches, within one step of `nowMs` and after
 * `afterStep` if given; undefined for a wrong, replayed or malformed code.
 */
export function verifyTotp(key: TotpKey, code: string, nowMs: number, afterStep?: number): number | undefined {
  if (!new RegExp(`^\\d{${key.digits}}$`).test(code)) return undefined;
  try {
    const r = verifySync({
      ...key, token: code, epoch: Math.floor(nowMs / 1000), epochTolerance: key.period,
      ...(afterStep !== undefined && { afterTimeStep: afterStep }),
    });
    return r.valid && 'timeStep' in r ? r.timeStep : undefined;
  } catch {
    return undefined; // e.g. afterStep ahead of the window after the clock went back
  }
}

// ── recovery codes ────────────────────────────────────────────────────────

export const RECOVERY_CODE_COUNT = 10;

const hmacHex = (salt: string, code: string): string => createHmac('sha256', salt).update(code).digest('hex');

/** A new set of codes: the data to store and the codes to show once. */
export function newRecovery(nowMs: number): { data: RecoveryData; codes: string[] } {
  const secret = randomBytes(16).toString('hex');
  const codes = Array.from({ length: RECOVERY_CODE_COUNT }, () => randomBytes(8).toString('hex').replace(/(.{4})(?!$)/g, '$1-'));
  return { data: { secret, entries: codes.map((c) => hmacHex(secret, c)), created: Math.floor(nowMs / 1000) }, codes };
}

/** The data with `code` used up, or undefined if it matches no unused code. Compares every entry in constant time. */
export function useRecoveryCode(data: RecoveryData, code: string): RecoveryData | undefined {
  const want = Buffer.from(hmacHex(data.secret, code.trim().toLowerCase()), 'hex');
  let hit = -1;
  data.entries.forEach((e, i) => {
    if (e !== null && timingSafeEqual(Buffer.from(e, 'hex'), want) && hit < 0) hit = i;
  });
  return hit < 0 ? undefined : { ...data, entries: data.entries.map((e, i) => (i === hit ? null : e)) };
}

// ── challenge and response ────────────────────────────────────────────────

/** What the partial ticket tells the client it may answer with (PBS `TfaChallenge`). */
export interface TfaChallenge {
  readonly totp?: true;
  /** Indices of the unused recovery codes; present (maybe empty) when a set exists. */
  readonly recovery?: readonly number[];
}

/** PBS's rule: a second factor is needed when an enabled TOTP entry or a recovery set (even a used-up one) exists. */
export function loginChallenge(user: TfaUserData | undefined): TfaChallenge | undefined {
  if (!user) return undefined;
  const totp = user.totp.some((e) => e.enable);
  const recovery = user.recovery?.entries.flatMap((e, i) => (e === null ? [] : [i]));
  if (!totp && recovery === undefined) return undefined;
  return { ...(totp && { totp: true as const }), ...(recovery && { recovery }) };
}

export type TfaResponse = { readonly kind: 'totp' | 'recovery'; readonly value: string };

/** `totp:<code>` or `recovery:<code>` (PBS `TfaResponse`); undefined for anything else. */
export function parseTfaResponse(text: string): TfaResponse | undefined {
  const m = /^(totp|recovery):(.+)$/s.exec(text);
  return m ? { kind: m[1] as TfaResponse['kind'], value: m[2]! } : undefined;
}

/** `user` with the response consumed, or undefined if it does not match. */
export function consumeResponse(user: TfaUserData, response: TfaResponse, nowMs: number): TfaUserData | undefined {
  if (response.kind === 'recovery') {
    const recovery = user.recovery && useRecoveryCode(user.recovery, response.value);
    return recovery && { ...user, recovery };
  }
  for (const [i, e] of user.totp.entries()) {
    if (!e.enable) continue;
    let key: TotpKey;
    try {
      key = parseTotpUri(e.entry);
    } catch {
      continue; // a hand-edited broken entry must not stop the others
    }
    const step = verifyTotp(key, response.value.trim(), nowMs, e['last-step']);
    if (step !== undefined) return { ...user, totp: user.totp.map((t, j) => (j === i ? { ...t, 'last-step': step } : t)) };
  }
  return undefined;
}

// ── partial tickets ───────────────────────────────────────────────────────

export const TFA_TICKET_MARK = '!tfa!';
/** Seconds a partial ticket may be early / late (PBS's -60..600). */
export const PARTIAL_TICKET_MIN_AGE = -60;
export const PARTIAL_TICKET_LIFETIME = 600;

const b64nopad = (b: Buffer): string => b.toString('base64').replace(/=+$/, '');
// As PBS's ticket data encoding: ':' and controls escaped (and '%', so decoding is exact).
const encodeData = (s: string): string => s.replace(/[%:\x00-\x1f\x7f]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);

// ── the service ───────────────────────────────────────────────────────────

const noMatch = Symbol('no match');

export class TfaService {
  private readonly privateKey: KeyObject;
  private readonly publicKey: KeyObject;

  /** `authKeyFile` is the ticket signing key (AuthKeys creates it first). */
  constructor(private readonly file: string, authKeyFile: string, private readonly now: () => number = Date.now) {
    this.privateKey = createPrivateKey(readFileSync(authKeyFile, 'utf8'));
    this.publicKey = createPublicKey(this.privateKey);
  }

  config(): TfaConfig {
    return loadTfaConfig(this.file).data;
  }

  /** The challenge for a password login, or undefined when the user needs no second factor. */
  challenge(userid: string): TfaChallenge | undefined {
    return loginChallenge(this.config().users[userid]);
  }

  createPartialTicket(userid: string, challenge: TfaChallenge, nowMs: number = this.now()): string {
    const time = Math.floor(nowMs / 1000).toString(16).toUpperCase().padStart(8, '0');
    const data = `${TICKET_PREFIX}:${encodeData(TFA_TICKET_MARK + JSON.stringify(challenge))}:${time}`;
    return `${data}::${b64nopad(sign(null, Buffer.from(`${data}:${userid}`), this.privateKey))}`;
  }

  /** The challenge of a valid, unexpired partial ticket issued to `userid`; BULWARK_UNAUTHORIZED otherwise. */
  verifyPartialTicket(ticket: string, userid: string, nowMs: number = this.now()): TfaChallenge {
    const bad = (why: string) => bulwarkError('BULWARK_UNAUTHORIZED', why);
    const sep = ticket.indexOf('::');
    const data = sep < 0 ? '' : ticket.slice(0, sep);
    const sigText = ticket.slice(sep + 2);
    const parts = data.split(':');
    if (parts.length !== 3 || parts[0] !== TICKET_PREFIX || !/^[0-9A-F]{8}$/.test(parts[2]!)) throw bad('malformed tfa challenge');
    const sig = Buffer.from(sigText, 'base64');
    if (b64nopad(sig) !== sigText || sig.length !== 64) throw bad('malformed tfa challenge');
    if (!verify(null, Buffer.from(`${data}:${userid}`), this.publicKey, sig)) throw bad('bad tfa challenge signature');
    const age = Math.floor(nowMs / 1000) - parseInt(parts[2]!, 16);
    if (age < PARTIAL_TICKET_MIN_AGE || age > PARTIAL_TICKET_LIFETIME) throw bad('tfa challenge expired');
    let text: string;
    try {
      text = decodeURIComponent(parts[1]!);
    } catch {
      throw bad('malformed tfa challenge');
    }
    if (!text.startsWith(TFA_TICKET_MARK)) throw bad('not a tfa challenge');
    return JSON.parse(text.slice(TFA_TICKET_MARK.length)) as TfaChallenge; // signed by us, so well-formed
  }

  /** Checks and consumes a `totp:`/`recovery:` response atomically; false if it does not match. */
  respond(userid: string, responseText: string, nowMs: number = this.now()): boolean {
    const response = parseTfaResponse(responseText);
    if (!response) return false;
    try {
      updateTfaConfig(this.file, (cfg) => {
        const user = cfg.users[userid];
        const next = user && consumeResponse(user, response, nowMs);
        if (!next) throw noMatch; // nothing is written
        return withUser(cfg, userid, next);
      });
      return true;
    } catch (err) {
      if (err === noMatch) return false;
      throw err;
    }
  }

  // ── management (the /access/tfa API) ──

  entries(userid: string): TypedTfaInfo[] {
    return typedEntries(this.config().users[userid]);
  }

  entry(userid: string, id: string): TypedTfaInfo {
    const found = this.entries(userid).find((e) => e.id === id);
    if (!found) throw bulwarkError('BULWARK_NOT_FOUND', `tfa entry ${userid}/${id}`);
    return found;
  }

  /** Registers a TOTP key once `value` proves the user's authenticator has it; returns the new id. */
  addTotp(userid: string, description: string, uri: string, value: string): string {
    const key = parseTotpUri(uri);
    const nowMs = this.now();
    const step = verifyTotp(key, value.trim(), nowMs);
    if (step === undefined) throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'value', 'failed to verify TOTP challenge');
    const entry: TotpEntry = { id: randomUUID(), description, created: Math.floor(nowMs / 1000), enable: true, entry: uri, 'last-step': step };
    this.modify(userid, (user) => ({ totp: [...(user?.totp ?? []), entry], ...(user?.recovery && { recovery: user.recovery }) }));
    return entry.id;
  }

  /** A new recovery set; the codes are returned this once and never again. */
  addRecovery(userid: string): string[] {
    const { data, codes } = newRecovery(this.now());
    this.modify(userid, (user) => {
      if (user?.recovery) throw bulwarkError('BULWARK_ALREADY_EXISTS', `recovery keys of ${userid}`);
      return { totp: user?.totp ?? [], recovery: data };
    });
    return codes;
  }

  update(userid: string, id: string, changes: { description?: string; enable?: boolean }): void {
    this.modify(userid, (user) => {
      if (!user?.totp.some((e) => e.id === id)) throw bulwarkError('BULWARK_NOT_FOUND', `tfa entry ${userid}/${id}`);
      const set = { ...(changes.description !== undefined && { description: changes.description }), ...(changes.enable !== undefined && { enable: changes.enable }) };
      return { ...user, totp: user.totp.map((e) => (e.id === id ? { ...e, ...set } : e)) };
    });
  }

  remove(userid: string, id: string): void {
    this.modify(userid, (user) => {
      const found = id === RECOVERY_ID ? user?.recovery !== undefined : user?.totp.some((e) => e.id === id);
      if (!user || !found) throw bulwarkError('BULWARK_NOT_FOUND', `tfa entry ${userid}/${id}`);
      if (id === RECOVERY_ID) return { totp: user.totp };
      return { ...user, totp: user.totp.filter((e) => e.id !== id) };
    });
  }

  /** Users with entries (all of them, or only `onlyUser`), in the shape of GET /access/tfa. */
  list(onlyUser?: string): { userid: string; entries: TypedTfaInfo[] }[] {
    return Object.entries(this.config().users)
      .filter(([userid, user]) => hasEntries(user) && (onlyUser === undefined || userid === onlyUser))
      .map(([userid, user]) => ({ userid, entries: typedEntries(user) }));
  }

  private modify(userid: string, fn: (user: TfaUserData | undefined) => TfaUserData): void {
    updateTfaConfig(this.file, (cfg) => withUser(cfg, userid, fn(cfg.users[userid])));
  }
}
