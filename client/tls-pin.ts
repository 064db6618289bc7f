/**
 * Server certificate trust for the client. With a pinned fingerprint
 * (`--fingerprint` / BULWARK_FINGERPRINT, SHA-256 as `aa:bb:…`), the client
 * first fetches the server's certificate over a bare TLS handshake, compares
 * its fingerprint, and then trusts exactly that certificate for every real
 * connection; no credential is sent before the pin has been checked.
 * Without a pin the system's CAs decide.
 */
import { connect, type PeerCertificate } from 'node:tls';
import { bulwarkError } from '../errors.ts';

export interface TrustOptions {
  /** PEM of the trusted certificate, when pinned. */
  readonly ca?: string;
  /** With a pin, the host name need not match the certificate. */
  readonly checkServerIdentity?: () => undefined;
  readonly rejectUnauthorized: true;
}

export function normaliseFingerprint(text: string): string {
  const hex = text.replace(/:/g, '').toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(hex)) {
    throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'fingerprint', `${JSON.stringify(text)} is not a SHA-256 fingerprint (64 hex digits, colons allowed)`);
  }
  return hex.match(/../g)!.join(':');
}

function toPem(cert: PeerCertificate): string {
  const b64 = cert.raw.toString('base64').match(/.{1,64}/g)!.join('\n');
  return `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`;
}

/** Trust exactly the certificate `pem` (a pinned one), whatever host name it carries. */
export const pinnedTrust = (pem: string): TrustOptions => ({ ca: pem, checkServerIdentity: () => undefined, rejectUnauthorized: true });

/** The certificate the server presents, from a bare handshake that sends nothing. */
function peerCertificate(host: string, port: number): Promise<PeerCertificate> {
  return new Promise<PeerCertificate>((resolve, reject) => {
    const socket = connect({ host, port, rejectUnauthorized: false, servername: isIpLiteral(host) ? undefined : host }, () => {
      const peer = socket.getPeerCertificate(false);
      socket.end();
      resolve(peer);
    });
    socket.on('error', (err) => reject(bulwarkError('BULWARK_IO', `${host}:${port}`, err.message, { cause: err })));
  });
}

export async function trustFor(host: string, port: number, fingerprint?: string): Promise<TrustOptions> {
  if (fingerprint === undefined) return { rejectUnauthorized: true };
  const want = normaliseFingerprint(fingerprint);
  const cert = await peerCertificate(host, port);
  const got = cert.fingerprint256.toLowerCase();
  if (got !== want) {
    throw bulwarkError('BULWARK_UNAUTHORIZED', `server certificate fingerprint ${got} does not match the pinned ${want}`);
  }
  return pinnedTrust(toPem(cert));
}

/**
 * The error for a server whose certificate no system CA vouches for (the
 * server's own self-signed one, unpinned): it names the certificate's
 * fingerprint, for the user to compare with the one the server printed at
 * start and pin, as proxmox-backup-client shows it.
 */
export async function untrustedServer(host: string, port: number, cause: Error): Promise<Error> {
  const fingerprint = await peerCertificate(host, port).then((c) => c.fingerprint256.toLowerCase(), () => undefined);
  const advice = fingerprint === undefined
    ? 'pin its fingerprint with --fingerprint or BULWARK_FINGERPRINT'
    : `if its fingerprint ${fingerprint} is the one the server printed at start, pin it with --fingerprint or BULWARK_FINGERPRINT`;
  return bulwarkError('BULWARK_UNAUTHORIZED', `the certificate of ${host}:${port} is not trusted (${cause.message}); ${advice}`, { cause });
}

/** Whether a connection failed because the server's certificate is not the trusted one. */
export function isCertificateError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /CERT|SIGNATURE|VERIFY/.test(code);
}

function isIpLiteral(host: string): boolean {
  return /^[\d.]+$/.test(host) || host.includes(':');
}
