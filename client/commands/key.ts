/**
 * `bulwark-client key create [PATH] [--kdf scrypt|none]` and
 * `key show [PATH]`. The default key file is
 * `$XDG_CONFIG_HOME/bulwark/encryption-key.json` (~/.config/…), as PBS keeps
 * its default key under ~/.config/proxmox-backup/. As with PBS, a new key
 * is protected by a password (scrypt) unless `--kdf none` says otherwise;
 * the password comes from BULWARK_ENCRYPTION_PASSWORD or the terminal
 * (key-file.ts).
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { generateKey, saveKeyFile, type KeyFile } from '../../datastore/crypt-key.ts';
import { bulwarkError } from '../../errors.ts';
import { defaultKeyPath, loadClientKey, newKeyPassword } from '../key-file.ts';
import { render, type OutputFormat } from '../output.ts';

export async function keyCreate(path: string | undefined, kdf: string, env: NodeJS.ProcessEnv): Promise<string> {
  const file = path ?? defaultKeyPath(env);
  if (existsSync(file)) throw bulwarkError('BULWARK_ALREADY_EXISTS', `key file ${file}`);
  if (kdf !== 'none' && kdf !== 'scrypt') throw bulwarkError('BULWARK_INVALID_ARGUMENT', '--kdf', `${kdf} (use none or scrypt)`);
  const password = kdf === 'scrypt' ? await newKeyPassword(env) : undefined;
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const key = generateKey();
  await saveKeyFile(file, key, password);
  return `created ${file}\nfingerprint: ${key.fingerprintText}\n`;
}

export async function keyShow(path: string | undefined, format: OutputFormat, env: NodeJS.ProcessEnv): Promise<string> {
  const file = path ?? defaultKeyPath(env);
  if (!existsSync(file)) throw bulwarkError('BULWARK_NOT_FOUND', `key file ${file}`);
  const raw = JSON.parse(readFileSync(file, 'utf8')) as KeyFile;
  // Loading checks the stored fingerprint against the key (and the password, if any).
  const key = await loadClientKey(file, env);
  const row = { path: file, kdf: raw.kdf ? 'scrypt' : 'none', created: raw.created, modified: raw.modified, fingerprint: key.fingerprintText };
  return render(format, [row], [
    { header: 'path', value: (r) => r.path },
    { header: 'kdf', value: (r) => r.kdf },
    { header: 'created', value: (r) => r.created },
    { header: 'fingerprint', value: (r) => r.fingerprint },
  ]);
}
