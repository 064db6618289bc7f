/**
 * The server's TLS identity: on first start a self-signed ECDSA P-256
 * certificate for localhost/127.0.0.1/::1 and the host name, written as
 * `etc/proxy.pem` + `etc/proxy.key` (PBS's names). Clients pin it by its
 * SHA-256 fingerprint, printed at start in PBS's colon-separated form.
 */
import 'reflect-metadata'; // @peculiar/x509's DI container needs it loaded first
import * as x509 from '@peculiar/x509';
import { webcrypto, X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { atomicWriteFileSync } from '../datastore/atomic-write.ts';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export interface TlsFiles {
  readonly keyFile: string;
  readonly certFile: string;
}

/** SHA-256 fingerprint as colon-separated lower-case hex, the form PBS prints and clients pin. */
export function certificateFingerprint(certFile: string): string {
  const cert = new X509Certificate(readFileSync(certFile));
  return cert.fingerprint256.toLowerCase();
}

/** Makes the key and certificate unless both exist. Returns true when it made them. */
export async function ensureSelfSignedCertificate(files: TlsFiles, now: Date = new Date()): Promise<boolean> {
  if (existsSync(files.keyFile) && existsSync(files.certFile)) return false;
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']);
  const host = hostname();
  const names: x509.JsonGeneralName[] = [
    { type: 'dns', value: 'localhost' },
    { type: 'ip', value: '127.0.0.1' },
    { type: 'ip', value: '::1' },
  ];
  if (host && host !== 'localhost') names.push({ type: 'dns', value: host });
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: Buffer.from(webcrypto.getRandomValues(new Uint8Array(8))).toString('hex').replace(/^[89a-f]/, '1'),
    name: `CN=${host || 'localhost'}, O=Bulwark self-signed`,
    notBefore: new Date(now.getTime() - 60_000),
    notAfter: new Date(now.getTime() + 10 * 365 * 86400_000),
    signingAlgorithm: alg,
    keys: keys as unknown as x509.X509CertificateCreateSelfSignedParams['keys'],
    extensions: [
      new x509.SubjectAlternativeNameExtension(names),
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
    ],
  });
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  atomicWriteFileSync(files.keyFile, x509.PemConverter.encode(pkcs8, 'PRIVATE KEY'), { fsync: true, mode: 0o600 });
  atomicWriteFileSync(files.certFile, cert.toString('pem'), { fsync: true, mode: 0o644 });
  return true;
}
