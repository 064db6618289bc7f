/**
 * remote.json: the other Bulwark/PBS servers that sync jobs pull from, with
 * PBS's remote.cfg field names (`host`, `port`, `auth-id`, `fingerprint`,
 * `comment`). The password (or API token secret) lives apart in
 * remote.shadow (mode 0600, as every config file), so listing or reading
 * remotes never touches a secret and the API can never return one by
 * accident.
 */
import { isIP } from 'node:net';
import { bulwarkError } from '../errors.ts';
import { validateAuthId } from '../datastore/names.ts';
import { expectObject, readConfigFile, updateConfigFile, type Loaded } from './config-file.ts';
import { comment, type FieldCheck, type JobSchema } from './job-config.ts';
import { namedFile, safeName } from './keyed-config.ts';

export interface Remote {
  readonly name: string;
  readonly host: string;
  /** Absent means PBS's default port, 8007. */
  readonly port?: number;
  readonly 'auth-id': string;
  /** SHA-256 fingerprint of the remote's TLS certificate, `aa:bb:…` (32 pairs). */
  readonly fingerprint?: string;
  readonly comment?: string;
}

export type RemoteMap = Readonly<Record<string, Remote>>;
export type RemoteShadow = Readonly<Record<string, string>>;

export const DEFAULT_REMOTE_PORT = 8007;

const show = (v: unknown): string => (JSON.stringify(v) ?? String(v)).slice(0, 60);

const DNS_NAME = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)*[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$/;

/** PBS DNS_NAME_OR_IP_SCHEMA: a DNS name, an IPv4 or an IPv6 address (without brackets). */
const host: FieldCheck = (v, field, sink) =>
  typeof v === 'string' && v.length <= 255 && (isIP(v) !== 0 || DNS_NAME.test(v))
    ? v
    : sink.invalid(field, `must be a DNS name or an IP address, got ${show(v)}`);

const port: FieldCheck = (v, field, sink) =>
  Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 65535 ? v : sink.invalid(field, `must be a port number from 1 to 65535, got ${show(v)}`);

const authId: FieldCheck = (v, field, sink) => {
  try {
    return validateAuthId(v);
  } catch (err) {
    return sink.invalid(field, (err as Error).message);
  }
};

const FINGERPRINT = /^[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){31}$/;
const fingerprint: FieldCheck = (v, field, sink) =>
  typeof v === 'string' && FINGERPRINT.test(v) ? v : sink.invalid(field, `must be a SHA-256 fingerprint (32 hex pairs separated by ':'), got ${show(v)}`);

const REMOTE_FIELDS: JobSchema = {
  name: { check: safeName, required: true },
  host: { check: host, required: true },
  port: { check: port },
  'auth-id': { check: authId, required: true },
  fingerprint: { check: fingerprint },
  comment: { check: comment },
};

const remotes = namedFile<Remote>('remote', REMOTE_FIELDS);

export function parseRemotes(raw: unknown, file: string): RemoteMap {
  return remotes.parse(raw, file);
}

/** API input → remote (without password); BULWARK_INVALID_ARGUMENT naming the parameter. */
export function validateRemote(input: unknown): Remote {
  return remotes.validate(input);
}

/** PBS REMOTE_PASSWORD_SCHEMA: 1 to 1024 characters, no control characters. */
export function validateRemotePassword(v: unknown): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > 1024 || /\p{Cc}/u.test(v)) {
    throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'password', 'must be 1 to 1024 characters without control characters');
  }
  return v;
}

export function loadRemotes(file: string): Loaded<RemoteMap> {
  return remotes.load(file);
}

function parseRemoteShadow(raw: unknown, file: string): RemoteShadow {
  const top = expectObject(raw, file, 'remote shadow');
  for (const [name, value] of Object.entries(top)) {
    if (typeof value !== 'string') throw bulwarkError('BULWARK_CONFIG_INVALID', file, `password of remote ${JSON.stringify(name)} must be a string`);
  }
  return top as RemoteShadow;
}

export interface RemoteFiles {
  readonly config: string;
  readonly shadow: string;
}

/**
 * Create or replace a remote. A new password (required when the remote is
 * new) is written to the shadow under remote.json's lock, after the digest
 * check: a refused write changes neither file.
 */
export function saveRemote(files: RemoteFiles, remote: Remote, password: string | undefined, expectedDigest?: string): Loaded<RemoteMap> {
  if (password !== undefined) validateRemotePassword(password);
  return remotes.save(files.config, remote, {
    ...(expectedDigest !== undefined && { expectedDigest }),
    beforeWrite: () => {
      if (password !== undefined) {
        updateConfigFile<RemoteShadow>(files.shadow, parseRemoteShadow, () => ({}), (cur) => ({ ...cur, [remote.name]: password }));
      } else if (readRemotePassword(files.shadow, remote.name) === undefined) {
        throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'password', 'parameter is missing');
      }
    },
  });
}

/** Removes the remote, then its password (a crash in between leaves only an unused secret). */
export function deleteRemote(files: RemoteFiles, name: string, expectedDigest?: string): Loaded<RemoteMap> {
  const result = remotes.remove(files.config, name, expectedDigest);
  updateConfigFile<RemoteShadow>(files.shadow, parseRemoteShadow, () => ({}), (cur) => {
    const { [name]: _gone, ...rest } = cur;
    return rest;
  });
  return result;
}

/** The stored password of a remote, for whoever connects to it (sync jobs). */
export function readRemotePassword(shadowFile: string, name: string): string | undefined {
  const shadow = readConfigFile<RemoteShadow>(shadowFile, parseRemoteShadow, () => ({})).data;
  return Object.hasOwn(shadow, name) ? shadow[name] : undefined;
}
