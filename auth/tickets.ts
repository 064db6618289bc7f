/**
 * Login tickets and CSRF tokens in PBS's formats (proxmox-auth-api ticket.rs):
 *
 *   ticket = "PBS:" authid ":" HHHHHHHH "::" base64nopad(Ed25519(signed part))
 *            where the signed part is everything before "::" and HHHHHHHH is
 *            the issue time in epoch seconds, 8 upper-case hex digits
 *   csrf   = HHHHHHHH ":" base64nopad(HMAC-SHA256(csrf secret, HHHHHHHH ":" authid))
 *
 * Both live 2 h; a ticket up to 5 min "from the future" is accepted, since
 * several servers (or a client's clock) can disagree a little (PBS: -300 s).
 * The signing key is `<etc>/authkey.key` (PKCS#8 PEM, 0600) and the CSRF
 * secret `<etc>/csrf.key` (base64, 0600); both are created on first use.
 *
 * TFA extension point: PBS issues a *partial* ticket `PBS:!tfa!<challenge>:…`
 * after the password step, accepted only by the TFA endpoint. Its data part
 * is not an auth id, so `verifyTicket` here rejects it as malformed; a
 * `verifyTfaTicket` would sign/verify that data the same way.
 */
import { closeSync, fsyncSync, linkSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { createHmac, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, timingSafeEqual, verify, type KeyObject } from 'node:crypto';
import { dirname } from 'node:path';
import { fsyncDirSync, tempPathFor } from '../datastore/atomic-write.ts';
import { bulwarkError } from '../errors.ts';
import { parseAuthid } from './acl.ts';

export const TICKET_PREFIX = 'PBS';
/** Seconds a ticket stays valid after it was issued. */
export const TICKET_LIFETIME = 2 * 3600;
/** Seconds a ticket (or CSRF token) may come from the future: tolerated clock skew. */
export const TICKET_MIN_AGE = -300;
export const CSRF_LIFETIME = 2 * 3600;

const ED25519_SIG_B64_LEN = 86; // 64 bytes, unpadded
const CSRF_SECRET_BYTES = 32;

const b64nopad = (b: Buffer): string => b.toString('base64').replace(/=+$/, '');
const hexTime = (nowMs: number): string => Math.floor(nowMs / 1000).toString(16).toUpperCase().padStart(8, '0');
const unauthorized = (why: string) => bulwarkError('BULWARK_UNAUTHORIZED', why);

/** Constant-time string equality (length is not secret: both sides have fixed-size encodings). */
export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * Reads `path`, or creates it with `make()` if absent. The new file is
 * written and fsync'd under a temp name and hard-linked into place, which
 * fails if another process got there first; then everyone reads the winner.
 */
export function readOrCreateSecretFile(path: string, make: () => string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const tmp = tempPathFor(path);
  const fd = openSync(tmp, 'wx', 0o600);
  let open = true;
  try {
    writeSync(fd, make());
    fsyncSync(fd);
    closeSync(fd);
    open = false;
    try {
      linkSync(tmp, path);
      fsyncDirSync(dirname(path));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  } finally {
    if (open) closeSync(fd);
    rmSync(tmp, { force: true });
  }
  return readFileSync(path, 'utf8');
}

function ageOf(hex: string, nowMs: number): number {
  return Math.floor(nowMs / 1000) - parseInt(hex, 16);
}

export class AuthKeys {
  private constructor(
    private readonly privateKey: KeyObject,
    readonly publicKey: KeyObject,
    private readonly csrfSecret: Buffer,
  ) {}

  /** Loads (creating on first use) the signing key and the CSRF secret. */
  static load(paths: { readonly authKey: string; readonly csrfKey: string }): AuthKeys {
    const pem = readOrCreateSecretFile(paths.authKey, () =>
      generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
    let privateKey: KeyObject;
    try {
      privateKey = createPrivateKey(pem);
      if (privateKey.asymmetricKeyType !== 'ed25519') throw new Error(`${privateKey.asymmetricKeyType} key, need ed25519`);
    } catch (err) {
      throw bulwarkError('BULWARK_CONFIG_INVALID', paths.authKey, (err as Error).message, { cause: err });
    }
    const secret = Buffer.from(readOrCreateSecretFile(paths.csrfKey, () => `${randomBytes(CSRF_SECRET_BYTES).toString('base64')}\n`).trim(), 'base64');
    if (secret.length < CSRF_SECRET_BYTES) throw bulwarkError('BULWARK_CONFIG_INVALID', paths.csrfKey, `need ${CSRF_SECRET_BYTES} base64 bytes`);
    return new AuthKeys(privateKey, createPublicKey(privateKey), secret);
  }

  /** PEM of the public half, for servers that only verify (PBS's authkey.pub). */
  publicKeyPem(): string {
    return this.publicKey.export({ type: 'spki', format: 'pem' }).toString();
  }

  createTicket(authid: string, nowMs: number = Date.now()): string {
    const { tokenName } = parseAuthid(authid);
    if (tokenName !== undefined) throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'ticket auth id', 'API tokens cannot hold tickets');
    const data = `${TICKET_PREFIX}:${authid}:${hexTime(nowMs)}`;
    return `${data}::${b64nopad(sign(null, Buffer.from(data), this.privateKey))}`;
  }

  /** Returns the ticket's auth id, or throws BULWARK_UNAUTHORIZED. */
  verifyTicket(ticket: string, nowMs: number = Date.now()): string {
    const sep = ticket.indexOf('::');
    if (sep < 0) throw unauthorized('malformed ticket');
    const data = ticket.slice(0, sep);
    const sigText = ticket.slice(sep + 2);
    const parts = data.split(':');
    if (parts.length !== 3 || parts[0] !== TICKET_PREFIX || !/^[0-9A-Fa-f]{8}$/.test(parts[2]!)) throw unauthorized('malformed ticket');
    const authid = parts[1]!;
    try {
      if (parseAuthid(authid).tokenName !== undefined) throw new Error('token');
    } catch {
      throw unauthorized('malformed ticket');
    }
    const sig = Buffer.from(sigText, 'base64');
    // Re-encoding must give the same text: base64 decoders ignore stray
    // trailing bits, and a ticket must have exactly one valid spelling.
    if (sigText.length !== ED25519_SIG_B64_LEN || b64nopad(sig) !== sigText) throw unauthorized('malformed ticket');
    if (!verify(null, Buffer.from(data), this.publicKey, sig)) throw unauthorized('bad ticket signature');
    const age = ageOf(parts[2]!, nowMs);
    if (age < TICKET_MIN_AGE) throw unauthorized('ticket timestamp is in the future');
    if (age > TICKET_LIFETIME) throw unauthorized('ticket expired');
    return authid;
  }

  createCsrf(authid: string, nowMs: number = Date.now()): string {
    const time = hexTime(nowMs);
    return `${time}:${this.csrfDigest(time, authid)}`;
  }

  /** Throws BULWARK_UNAUTHORIZED unless `token` was issued to `authid` within the last 2 h. */
  verifyCsrf(authid: string, token: string, nowMs: number = Date.now()): void {
    const m = /^([0-9A-F]{8}):([A-Za-z0-9+/]{43})$/.exec(token);
    if (!m || !safeEqual(m[2]!, this.csrfDigest(m[1]!, authid))) throw unauthorized('invalid CSRF prevention token');
    const age = ageOf(m[1]!, nowMs);
    if (age < TICKET_MIN_AGE || age > CSRF_LIFETIME) throw unauthorized('CSRF prevention token expired');
  }

  private csrfDigest(hexTimeText: string, authid: string): string {
    return b64nopad(createHmac('sha256', this.csrfSecret).update(`${hexTimeText}:${authid}`).digest());
  }
}
