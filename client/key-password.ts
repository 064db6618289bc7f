/**
 * The password of a key file, as proxmox-backup-client gets it: from
 * BULWARK_ENCRYPTION_PASSWORD, else asked on the terminal (not echoed;
 * prompts on stderr, so stdout stays clean for data). Without either, a
 * command that needs it stops with an error saying how to give it.
 */
import { read } from 'read';
import { loadKeyFile, type CryptKey } from '../datastore/crypt-key.ts';
import { bulwarkError, isBulwarkError } from '../errors.ts';

const HOW = 'set BULWARK_ENCRYPTION_PASSWORD, or run on a terminal to be asked for it';

const onTerminal = (): boolean => process.stdin.isTTY === true;

const ask = (prompt: string): Promise<string> => read({ prompt, silent: true, output: process.stderr });

/** A key file, asking for its password on the terminal if it has one and the environment does not. */
export async function loadClientKey(path: string, env: NodeJS.ProcessEnv): Promise<CryptKey> {
  const password = env.BULWARK_ENCRYPTION_PASSWORD;
  if (password !== undefined) return loadKeyFile(path, password);
  try {
    return await loadKeyFile(path);
  } catch (err) {
    if (!isBulwarkError(err, 'BULWARK_KEY_REQUIRED')) throw err;
    if (!onTerminal()) throw bulwarkError('BULWARK_KEY_PASSWORD_REQUIRED', `key file ${path}`, HOW);
    return loadKeyFile(path, await ask(`Password for key file ${path}: `));
  }
}

/** The password for a new key file: the environment's, or typed twice on the terminal. */
export async function newKeyPassword(env: NodeJS.ProcessEnv): Promise<string> {
  const password = env.BULWARK_ENCRYPTION_PASSWORD ?? (onTerminal() ? await ask('Encryption key password: ') : undefined);
  if (password === undefined) throw bulwarkError('BULWARK_KEY_PASSWORD_REQUIRED', 'a new key file', `${HOW}; --kdf none stores the key without one`);
  if (password.length < 5) throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'key password', 'it must be at least 5 characters long');
  if (env.BULWARK_ENCRYPTION_PASSWORD === undefined && (await ask('Verify password: ')) !== password) {
    throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'key password', 'the two passwords differ');
  }
  return password;
}
