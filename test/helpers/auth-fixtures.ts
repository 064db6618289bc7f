/**
 * Shared fixtures for test/auth: a temp etc dir with users, a settable clock,
 * and a plain (non-TLS) uWS app carrying the access routes on 127.0.0.1.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { AuthService } from '../../auth/auth-service.ts';
import { hashPassword } from '../../auth/password.ts';
import { configPaths, type ConfigPaths } from '../../config/paths.ts';
import { addAclEntry, savePasswordHash, saveUser, type AclEntry } from '../../config/user-config.ts';
import { accessRoutes } from '../../transport/routes/access.ts';
import { loadUws, type us_listen_socket } from '../../transport/uws.ts';

/** 2024-06-01T00:00:00Z: a fixed start so tests never depend on the real clock. */
export const T0 = Date.UTC(2024, 5, 1);

export interface TestClock {
  readonly now: () => number;
  advance(ms: number): void;
  set(ms: number): void;
}

export function testClock(start = T0): TestClock {
  let t = start;
  return { now: () => t, advance: (ms) => { t += ms; }, set: (ms) => { t = ms; } };
}

export interface AuthDir {
  readonly dir: string;
  readonly paths: ConfigPaths;
  remove(): void;
}

export function makeAuthDir(): AuthDir {
  const dir = mkdtempSync(join(tmpdir(), 'bulwark-auth-'));
  const paths = configPaths(dir);
  mkdirSync(paths.etcDir, { recursive: true, mode: 0o700 });
  return { dir, paths, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

// scrypt costs ~0.1 s per hash; tests reuse one hash per password.
const hashes = new Map<string, string>();

export interface TestUser {
  readonly userid: string;
  readonly password?: string;
  readonly enable?: boolean;
  /** Epoch seconds. */
  readonly expire?: number;
}

export function addUser(paths: ConfigPaths, user: TestUser): void {
  saveUser(paths.userConfig, { userid: user.userid, enable: user.enable ?? true, expire: user.expire ?? 0 });
  if (user.password !== undefined) {
    let hash = hashes.get(user.password);
    if (!hash) hashes.set(user.password, (hash = hashPassword(user.password)));
    savePasswordHash(paths.shadow, user.userid, hash);
  }
}

export function addAcl(paths: ConfigPaths, entries: readonly AclEntry[]): void {
  for (const e of entries) addAclEntry(paths.aclConfig, e);
}

export const PASSWORD = 'correct horse battery staple';

/**
 * A dir with admin@pbs (Admin on /), alice@pbs (DatastoreBackup on
 * /datastore/store1), off@pbs (disabled) and old@pbs (expired at T0 - 1 s),
 * all with PASSWORD, plus an AuthService on the given clock.
 */
export function standardAuth(clock: TestClock = testClock()): AuthDir & { clock: TestClock; auth: AuthService } {
  const d = makeAuthDir();
  addUser(d.paths, { userid: 'admin@pbs', password: PASSWORD });
  addUser(d.paths, { userid: 'alice@pbs', password: PASSWORD });
  addUser(d.paths, { userid: 'off@pbs', password: PASSWORD, enable: false });
  addUser(d.paths, { userid: 'old@pbs', password: PASSWORD, expire: Math.floor(T0 / 1000) - 1 });
  addAcl(d.paths, [
    { path: '/', ugid: 'admin@pbs', roleid: 'Admin', propagate: true },
    { path: '/datastore/store1', ugid: 'alice@pbs', roleid: 'DatastoreBackup', propagate: true },
  ]);
  return { ...d, clock, auth: new AuthService(d.paths, { now: clock.now }) };
}

export interface TestApp {
  readonly port: number;
  readonly url: string;
  close(): void;
}

/** A plain uWS App with only the access routes, listening on 127.0.0.1 on a free port. */
export async function startAccessApp(auth: AuthService): Promise<TestApp> {
  const { uws } = loadUws();
  const app = uws.App();
  accessRoutes(app, pino({ level: 'silent' }), auth);
  const socket = await new Promise<us_listen_socket | false>((resolve) => app.listen('127.0.0.1', 0, resolve));
  if (!socket) throw new Error('test app could not listen');
  const port = uws.us_socket_local_port(socket as never);
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    close() {
      uws.us_listen_socket_close(socket);
      (app as unknown as { close?: () => void }).close?.();
    },
  };
}
