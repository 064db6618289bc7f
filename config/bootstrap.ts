/**
 * First start on an embedded default: makes the data directory's `etc/`,
 * a self-signed certificate, the datastore `store1` under `<data>/store1`
 * and the user `admin@pbs` with the Admin role on `/`. Idempotent: later
 * starts find everything in place and change nothing.
 */
import { accessSync, constants, mkdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { hashPassword, generatePassword } from '../auth/password.ts';
import { createDatastore } from '../datastore/create.ts';
import { bulwarkError } from '../errors.ts';
import { loadDatastoreConfig, saveDatastoreEntry } from './datastore-config.ts';
import { configPaths, type ConfigPaths } from './paths.ts';
import { ensureSelfSignedCertificate } from './tls.ts';
import { addAclEntry, loadUsers, savePasswordHash, saveUser } from './user-config.ts';

export const DEFAULT_STORE = 'store1';
export const DEFAULT_ADMIN = 'admin@pbs';

export interface BootstrapResult {
  readonly paths: ConfigPaths;
  readonly createdCertificate: boolean;
  readonly createdStore?: string;
  /** Set only on the start that created the admin user. */
  readonly admin?: { readonly userid: string; readonly password: string; readonly generated: boolean };
}

/** Checks the data dir is (or can become) a writable directory; BULWARK_USAGE otherwise. */
export function prepareDataDir(dataDir: string): string {
  const dir = resolve(dataDir);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o750 });
    if (!statSync(dir).isDirectory()) throw new Error('not a directory');
    accessSync(dir, constants.R_OK | constants.W_OK | constants.X_OK);
  } catch (err) {
    throw bulwarkError('BULWARK_USAGE', `data directory ${dir} is not usable: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return dir;
}

export async function bootstrap(dataDir: string, env: NodeJS.ProcessEnv = process.env): Promise<BootstrapResult> {
  const dir = prepareDataDir(dataDir);
  const paths = configPaths(dir);
  mkdirSync(paths.etcDir, { recursive: true, mode: 0o700 });

  const createdCertificate = await ensureSelfSignedCertificate({ keyFile: paths.tlsKey, certFile: paths.tlsCert });

  let createdStore: string | undefined;
  if (Object.keys(loadDatastoreConfig(paths.datastoreConfig).data).length === 0) {
    const storePath = join(dir, DEFAULT_STORE);
    createDatastore(storePath);
    saveDatastoreEntry(paths.datastoreConfig, { name: DEFAULT_STORE, path: storePath, comment: 'default datastore' });
    createdStore = DEFAULT_STORE;
  }

  let admin: BootstrapResult['admin'];
  if (!loadUsers(paths.userConfig).data[DEFAULT_ADMIN]) {
    const fromEnv = env.BULWARK_ADMIN_PASSWORD;
    const password = fromEnv && fromEnv.length > 0 ? fromEnv : generatePassword();
    savePasswordHash(paths.shadow, DEFAULT_ADMIN, hashPassword(password));
    saveUser(paths.userConfig, { userid: DEFAULT_ADMIN, enable: true, expire: 0, comment: 'created at first start' });
    addAclEntry(paths.aclConfig, { path: '/', ugid: DEFAULT_ADMIN, roleid: 'Admin', propagate: true });
    admin = { userid: DEFAULT_ADMIN, password, generated: fromEnv === undefined || fromEnv.length === 0 };
  }

  return { paths, createdCertificate, ...(createdStore && { createdStore }), ...(admin && { admin }) };
}
