/**
 * Which key a command encrypts or decrypts with, and the key file's
 * password, as proxmox-backup-client decides them:
 *
 * - `--keyfile F` names the key; else the default key file
 *   (`$XDG_CONFIG_HOME/bulwark/encryption-key.json`, where `key create`
 *   puts it) is used when it exists, and said so on stderr;
 *   `--crypt-mode none` uses no key, `--crypt-mode encrypt` insists on one.
 * - The password comes from BULWARK_ENCRYPTION_PASSWORD, else it is asked
 *   on the terminal (not echoed; prompts on stderr, so stdout stays clean
 *   for data). Without either, a command that needs it stops with an error
 *   saying how to give it.
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { loadKeyFile, type CryptKey } from '../datastore/crypt-key.ts';
import { bulwarkError, isBulwarkError } from '../errors.ts';
import { askSecret, onTerminal } from './prompt.ts';

const HOW = 'set BULWARK_ENCRYPTION_PASSWORD, or run on a terminal to be asked for it';

/** A key file, asking for its password on the terminal if it has one and the environment does not. */
export async function loadClientKey(path: string, env: NodeJS.ProcessEnv): Promise<CryptKey> {
  const password = env.BULWARK_ENCRYPTION_PASSWORD;
  if (password !== undefined) return loadKeyFile(path, password);
  try {
    return await loadKeyFile(path);
  } catch (err) {
    if (!isBulwarkError(err, 'BULWARK_KEY_REQUIRED')) throw err;
    if (!onTerminal()) throw bulwarkError('BULWARK_KEY_PASSWORD_REQUIRED', `key file ${path}`, HOW);
    return loadKeyFile(path, await askSecret(`Password for key file ${path}: `));
  }
}

/** The password for a new key file: the environment's, or typed twice on the terminal. */
export async function newKeyPassword(env: NodeJS.ProcessEnv): Promise<string> {
  const given = env.BULWARK_ENCRYPTION_PASSWORD;
  if (given === undefined && !onTerminal()) throw bulwarkError('BULWARK_KEY_PASSWORD_REQUIRED', 'a new key file', `${HOW}; --kdf none stores the key without one`);
  const password = given ?? (await askSecret('Encryption key password: '));
  if (password.length < 5) throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'key password', 'it must be at least 5 characters long');
  if (given === undefined && (await askSecret('Verify password: ')) !== password) {
    throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'key password', 'the two passwords differ');
  }
  return password;
}

export function defaultKeyPath(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CONFIG_HOME && env.XDG_CONFIG_HOME.length > 0 ? env.XDG_CONFIG_HOME : join(homedir(), '.config');
  return join(base, 'bulwark', 'encryption-key.json');
}

export interface KeyChoice {
  readonly keyfile?: string;
  readonly 'crypt-mode'?: string;
}

/** The key a backup, restore or catalog command uses (see the top), or none. */
export async function chooseKey(opts: KeyChoice, env: NodeJS.ProcessEnv): Promise<CryptKey | undefined> {
  const mode = opts['crypt-mode'];
  if (mode !== undefined && mode !== 'none' && mode !== 'encrypt') throw bulwarkError('BULWARK_INVALID_ARGUMENT', '--crypt-mode', `${mode} (use none or encrypt)`);
  if (mode === 'none') {
    if (opts.keyfile !== undefined) throw bulwarkError('BULWARK_INVALID_ARGUMENT', '--crypt-mode none', 'it cannot be combined with --keyfile');
    return undefined;
  }
  if (opts.keyfile !== undefined) return loadClientKey(opts.keyfile, env);
  const path = defaultKeyPath(env);
  if (existsSync(path)) {
    process.stderr.write(`using the default encryption key ${path}\n`);
    return loadClientKey(path, env);
  }
  if (mode === 'encrypt') throw bulwarkError('BULWARK_INVALID_ARGUMENT', '--crypt-mode encrypt', `no key: pass --keyfile, or create the default key ${path} with 'key create'`);
  return undefined;
}
