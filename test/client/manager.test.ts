import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { CLI_NODE_FLAGS } from '../../bin/cli-node-flags.ts';
import { removeDataDir, REPO_ROOT, startServer, type StartedServer } from '../helpers/server-process.ts';

const PASSWORD = 'manager-test-password';
let server: StartedServer;
let env: NodeJS.ProcessEnv;
const MANAGER = join(REPO_ROOT, 'bin', 'bulwark-manager');

function manager(args: readonly string[], extra: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...CLI_NODE_FLAGS, MANAGER, ...args], { cwd: REPO_ROOT, env: { ...process.env, ...env, ...extra }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

before(async () => {
  server = await startServer({ env: { BULWARK_ADMIN_PASSWORD: PASSWORD } });
  env = {
    BULWARK_SERVER: `admin@pbs@127.0.0.1:${server.port}`,
    BULWARK_PASSWORD: PASSWORD,
    BULWARK_FINGERPRINT: /Certificate fingerprint: (\S+)/.exec(server.banner)![1]!,
    XDG_RUNTIME_DIR: '', // no ticket cache: a wrong password must fail
  };
});

after(async () => {
  await server?.stop();
  if (server) removeDataDir(server.dataDir);
});

describe('bulwark-manager against a real server', () => {
  test('garbage-collection start follows the task log to its end; the task shows in task list', async () => {
    const gc = await manager(['garbage-collection', 'start', 'store1']);
    assert.equal(gc.code, 0, gc.stderr);
    assert.match(gc.stdout, /^UPID:\S+:garbage_collection:store1:admin@pbs:\n/);
    assert.match(gc.stdout, /starting garbage collection on store store1/);
    assert.match(gc.stdout, /TASK OK/);
    const upid = gc.stdout.split('\n')[0]!;
    const list = await manager(['task', 'list', '--typefilter', 'garbage_collection', '--output-format', 'json']);
    assert.equal(list.code, 0, list.stderr);
    const tasks = JSON.parse(list.stdout) as { upid: string; status: string }[];
    assert.ok(tasks.some((t) => t.upid === upid && t.status === 'OK'));
    const status = await manager(['garbage-collection', 'status', 'store1', '--output-format', 'json']);
    assert.equal((JSON.parse(status.stdout) as { upid: string }).upid, upid);
    const log = await manager(['task', 'log', upid]);
    assert.match(log.stdout, /TASK OK/);
  });

  test('prune with keep options runs as a task; a bad option value is refused naming it', async () => {
    const ok = await manager(['prune', 'store1', '--keep-last', '3', '--dry-run']);
    assert.equal(ok.code, 0, ok.stderr + ok.stdout);
    assert.match(ok.stdout, /dry run/);
    const bad = await manager(['prune', 'store1', '--keep-last', 'lots']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^bulwark-manager: .*keep-last/);
  });

  test('users, ACLs and datastore config through the manager', async () => {
    const created = await manager(['user', 'create', 'bob@pbs', '--password', 'bob-password-123', '--comment', 'ops']);
    assert.equal(created.code, 0, created.stderr);
    const users = JSON.parse((await manager(['user', 'list', '--output-format', 'json'])).stdout) as { userid: string; comment?: string }[];
    assert.ok(users.some((u) => u.userid === 'bob@pbs' && u.comment === 'ops'));
    const granted = await manager(['acl', 'update', '/datastore/store1', 'DatastoreBackup', '--auth-id', 'bob@pbs']);
    assert.equal(granted.code, 0, granted.stderr);
    const acl = JSON.parse((await manager(['acl', 'list', '--output-format', 'json'])).stdout) as { path: string; ugid: string; roleid: string }[];
    assert.ok(acl.some((e) => e.path === '/datastore/store1' && e.ugid === 'bob@pbs' && e.roleid === 'DatastoreBackup'));
    const token = await manager(['user', 'generate-token', 'bob@pbs', 'backup', '--output-format', 'json']);
    assert.equal(token.code, 0, token.stderr);
    assert.match((JSON.parse(token.stdout) as { tokenid: string }).tokenid, /^bob@pbs!backup$/);
    const comment = await manager(['datastore', 'update', 'store1', '--comment', 'main store']);
    assert.equal(comment.code, 0, comment.stderr);
    const stores = JSON.parse((await manager(['datastore', 'list', '--output-format', 'json'])).stdout) as { name: string; comment?: string }[];
    assert.deepEqual(stores.map((d) => [d.name, d.comment]), [['store1', 'main store']]);
    const badRole = await manager(['acl', 'update', '/', 'Superuser', '--auth-id', 'bob@pbs']);
    assert.equal(badRole.code, 1);
    assert.match(badRole.stderr, /role/);
  });

  test('usage errors exit 2 with one line; a wrong password exits 1', async () => {
    const unknown = await manager(['frobnicate']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown command "frobnicate"/);
    const missing = await manager(['garbage-collection', 'start']);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /takes STORE/);
    const denied = await manager(['task', 'list'], { BULWARK_PASSWORD: 'wrong' });
    assert.equal(denied.code, 1);
    assert.match(denied.stderr, /authentication failed/);
    const help = await manager(['--help']);
    assert.match(help.stdout, /garbage-collection start STORE/);
  });
});
