import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { client, clientEnv, runClient, runClientOnTerminal } from '../helpers/client-process.ts';
import { makeDataDir, removeDataDir, startServer, type StartedServer } from '../helpers/server-process.ts';
import { compareTrees, makeFullTree } from '../helpers/tree-fixtures.ts';

const PASSWORD = 'test-admin-password';
let server: StartedServer;
let work: string;
let env: NodeJS.ProcessEnv;
const src = () => join(work, 'src');
const image = () => join(work, 'disk.img');
const T0 = Math.floor(Date.now() / 1000) - 3600;
const snap = (id: string, t: number) => `host/${id}/${new Date(t * 1000).toISOString().replace('.000Z', 'Z')}`;

before(async () => {
  work = makeDataDir();
  server = await startServer({ env: { BULWARK_ADMIN_PASSWORD: PASSWORD } });
  env = clientEnv(server, PASSWORD, { XDG_CONFIG_HOME: join(work, 'config') });
  mkdirSync(src());
  await makeFullTree(src());
  writeFileSync(join(src(), 'hundred-mb.bin'), randomBytes(100 * 1000 * 1000));
  writeFileSync(image(), Buffer.concat([randomBytes(5 * 1024 * 1024), Buffer.alloc(8 * 1024 * 1024), randomBytes(1234)]));
});

after(async () => {
  await server?.stop();
  if (server) removeDataDir(server.dataDir);
  if (work) removeDataDir(work);
});

describe('bulwark-client against a real server', () => {
  test('backup and full restore of a tree with every file kind and an image', async () => {
    const out = JSON.parse(await client(['backup', `root.bxar:${src()}`, `disk.img:${image()}`, '--backup-id', 'full', '--backup-time', String(T0), '--output-format', 'json'], env)) as {
      snapshot: string; archives: { name: string; uploadedChunks: number; size: number }[];
    };
    assert.equal(out.snapshot, snap('full', T0));
    assert.ok(out.archives.every((a) => a.uploadedChunks > 0));

    const target = join(work, 'restore-full');
    await client(['restore', snap('full', T0), 'root.bxar', target], env);
    assert.deepEqual(await compareTrees(src(), target), []);

    const img = join(work, 'restored.img');
    await client(['restore', snap('full', T0), 'disk.img', img], env);
    assert.ok(readFileSync(img).equals(readFileSync(image())));

    // Restoring into the same tree again rewrites nothing.
    const again = await client(['restore', snap('full', T0), 'root.bxar', target], env);
    assert.match(again, /\(\d+ unchanged files skipped\)/);
    assert.doesNotMatch(again, /\(0 unchanged/);
    assert.deepEqual(await compareTrees(src(), target), []);
  });

  test('an unchanged second backup uploads no chunk', async () => {
    const first = JSON.parse(await client(['backup', `root.bxar:${src()}`, '--backup-id', 'incr', '--backup-time', String(T0), '--output-format', 'json'], env)) as { archives: { uploadedChunks: number }[] };
    assert.ok(first.archives[0]!.uploadedChunks > 0);
    const second = JSON.parse(await client(['backup', `root.bxar:${src()}`, '--backup-id', 'incr', '--backup-time', String(T0 + 60), '--output-format', 'json'], env)) as {
      archives: { uploadedChunks: number; uploadedBytes: number; reusedChunks: number }[];
    };
    assert.equal(second.archives[0]!.uploadedChunks, 0);
    assert.equal(second.archives[0]!.uploadedBytes, 0);
    assert.ok(second.archives[0]!.reusedChunks > 0);
    const target = join(work, 'restore-incr');
    await client(['restore', snap('incr', T0 + 60), 'root.bxar', target], env);
    assert.deepEqual(await compareTrees(src(), target), []);
  });

  test('listings, catalog and a single file to stdout', async () => {
    const snaps = JSON.parse(await client(['snapshot', 'list', 'host/full', '--output-format', 'json'], env)) as Record<string, unknown>[];
    assert.equal(snaps.length, 1);
    assert.equal(snaps[0]!['backup-type'], 'host');
    assert.equal(snaps[0]!['backup-id'], 'full');
    assert.equal(snaps[0]!['backup-time'], T0);
    assert.equal(snaps[0]!.owner, 'admin@pbs');
    assert.ok((snaps[0]!.size as number) > 100_000_000);
    const groups = JSON.parse(await client(['list', '--output-format', 'json'], env)) as Record<string, unknown>[];
    assert.ok(groups.some((g) => g['backup-id'] === 'full' && g['backup-count'] === 1));
    // The table names archives as restore takes them; JSON keeps the server's file names.
    const table = await client(['snapshot', 'list', 'host/full'], env);
    assert.match(table, new RegExp(`^${snap('full', T0)} +[\\d.]+ MiB +disk\\.img root\\.bxar *$`, 'm'));
    assert.deepEqual((snaps[0]!.files as { filename: string }[]).map((f) => f.filename).sort(), ['disk.img.fidx', 'root.bcat.blob', 'root.mbxar.didx', 'root.pbxar.didx']);
    const [status] = JSON.parse(await client(['status', '--output-format', 'json'], env)) as { store: string; total: number; used: number; avail: number }[];
    assert.equal(status!.store, 'store1');
    assert.ok(status!.total > 0 && status!.used > 0 && status!.avail > 0 && status!.used <= status!.total);

    const catalog = JSON.parse(await client(['catalog', snap('full', T0), 'root.bxar', '--output-format', 'json'], env)) as { path: string; type: string }[];
    assert.ok(catalog.some((e) => e.path === 'small.txt' && e.type === 'file'));

    const one = await runClient(['restore', snap('full', T0), 'root.bxar/small.txt', '-'], env);
    assert.equal(one.code, 0, one.stderr);
    assert.equal(one.stdout.toString(), 'hello, bulwark\n');
  });

  test('encrypted backup: restore needs the right key, and fails clearly otherwise', async () => {
    const keyA = join(work, 'a.key');
    const keyB = join(work, 'b.key');
    // As with PBS, a new key is password-protected unless asked otherwise; the password is typed twice, not echoed.
    const created = await runClientOnTerminal(['key', 'create', keyA], env, [
      { after: /Encryption key password: /, type: 'hunter22\n' },
      { after: /Verify password: /, type: 'hunter22\n' },
    ]);
    assert.equal(created.code, 0, created.stdout.toString());
    assert.match(created.stdout.toString(), /created .*a\.key\r\nfingerprint: [0-9a-f:]{95}/);
    assert.doesNotMatch(created.stdout.toString(), /hunter22/);
    assert.ok((JSON.parse(readFileSync(keyA, 'utf8')) as { kdf: { scrypt?: unknown } }).kdf.scrypt);
    await client(['key', 'create', keyB, '--kdf', 'none'], env);
    const noPassword = await runClient(['key', 'create', join(work, 'c.key')], env);
    assert.equal(noPassword.code, 1);
    assert.match(noPassword.stderr, /a new key file is protected by a password: set BULWARK_ENCRYPTION_PASSWORD, or run on a terminal to be asked for it; --kdf none stores the key without one/);
    assert.equal(existsSync(join(work, 'c.key')), false);
    const encEnv = { ...env, BULWARK_ENCRYPTION_PASSWORD: 'hunter22' };
    const small = join(work, 'small-src');
    mkdirSync(small);
    writeFileSync(join(small, 'secret.txt'), 'the plans\n'.repeat(1000));
    await client(['backup', `root.bxar:${small}`, '--backup-id', 'enc', '--backup-time', String(T0), '--keyfile', keyA], encEnv);

    // The server holds no plaintext: no file of the datastore (chunks, indexes, catalog) contains the secret.
    const secret = Buffer.from('the plans\n');
    const store = join(server.dataDir, 'store1');
    const files = readdirSync(store, { recursive: true, encoding: 'utf8' }).map((f) => join(store, f)).filter((f) => statSync(f).isFile());
    assert.ok(files.some((f) => f.includes('/host/enc/')), 'the snapshot is among the files searched');
    const holding = files.filter((f) => readFileSync(f).includes(secret));
    assert.deepEqual(holding, []);
    // The key's password is asked on a terminal when the environment has none; a wrong one is refused.
    const target = join(work, 'restore-enc');
    const badPassword = await runClientOnTerminal(['restore', snap('enc', T0), 'root.bxar', target, '--keyfile', keyA], env, [{ after: /Password for key file .*a\.key: /, type: 'hunter2\n' }]);
    assert.equal(badPassword.code, 1);
    assert.match(badPassword.stdout.toString(), /could not decrypt key file .*a\.key/);
    assert.equal(existsSync(target), false);
    const restored = await runClientOnTerminal(['restore', snap('enc', T0), 'root.bxar', target, '--keyfile', keyA], env, [{ after: /Password for key file .*a\.key: /, type: 'hunter22\n' }]);
    assert.equal(restored.code, 0, restored.stdout.toString());
    assert.deepEqual(await compareTrees(small, target), []);
    const piped = await runClient(['restore', snap('enc', T0), 'root.bxar', join(work, 'x0'), '--keyfile', keyA], env);
    assert.equal(piped.code, 1);
    assert.match(piped.stderr, /key file .*a\.key is protected by a password: set BULWARK_ENCRYPTION_PASSWORD, or run on a terminal to be asked for it/);

    const noKey = await runClient(['restore', snap('enc', T0), 'root.bxar', join(work, 'x1')], env);
    assert.equal(noKey.code, 1);
    assert.match(noKey.stderr, new RegExp(`snapshot ${snap('enc', T0)} is encrypted; a key is required`));
    const wrongKey = await runClient(['restore', snap('enc', T0), 'root.bxar', join(work, 'x2'), '--keyfile', keyB], env);
    assert.equal(wrongKey.code, 1);
    assert.match(wrongKey.stderr, new RegExp(`manifest ${snap('enc', T0)} has a bad signature: signed with key [0-9a-f:]+, not with`));
  });

  test('the default key encrypts and decrypts without --keyfile; --crypt-mode none and encrypt override it', async () => {
    const small = join(work, 'default-key-src');
    mkdirSync(small);
    writeFileSync(join(small, 'f.txt'), 'default key\n');
    const keyEnv = { ...env, XDG_CONFIG_HOME: join(work, 'config-with-key') };
    const noKeyEnv = { ...env, XDG_CONFIG_HOME: join(work, 'config-without-key') };
    const mustEncrypt = await runClient(['backup', `root.bxar:${small}`, '--backup-id', 'dk', '--crypt-mode', 'encrypt'], noKeyEnv);
    assert.equal(mustEncrypt.code, 1);
    assert.match(mustEncrypt.stderr, /--crypt-mode encrypt: no key: pass --keyfile, or create the default key .*config-without-key\/bulwark\/encryption-key\.json with 'key create'/);
    await client(['key', 'create', '--kdf', 'none'], keyEnv);

    const encrypted = await runClient(['backup', `root.bxar:${small}`, '--backup-id', 'dk', '--backup-time', String(T0)], keyEnv);
    assert.equal(encrypted.code, 0, encrypted.stderr);
    assert.match(encrypted.stderr, /using the default encryption key .*config-with-key\/bulwark\/encryption-key\.json/);
    const plain = await runClient(['backup', `root.bxar:${small}`, '--backup-id', 'dk', '--backup-time', String(T0 + 1), '--crypt-mode', 'none'], keyEnv);
    assert.equal(plain.code, 0, plain.stderr);
    assert.equal(plain.stderr, '');
    type Row = { 'backup-time': number; files: { 'crypt-mode': string }[] };
    const modes = (JSON.parse(await client(['snapshot', 'list', 'host/dk', '--output-format', 'json'], env)) as Row[]).map((r) => [r['backup-time'], r.files[0]!['crypt-mode']]);
    assert.deepEqual(modes, [[T0, 'encrypt'], [T0 + 1, 'none']]);

    const restored = await runClient(['restore', snap('dk', T0), 'root.bxar/f.txt', '-'], keyEnv);
    assert.equal(restored.stdout.toString(), 'default key\n');
    const without = await runClient(['restore', snap('dk', T0), 'root.bxar/f.txt', '-'], noKeyEnv);
    assert.equal(without.code, 1);
    assert.match(without.stderr, /is encrypted; a key is required to read it/);
    const both = await runClient(['backup', `root.bxar:${small}`, '--crypt-mode', 'none', '--keyfile', join(work, 'a.key')], keyEnv);
    assert.equal(both.code, 1);
    assert.match(both.stderr, /--crypt-mode none: it cannot be combined with --keyfile/);
  });

  test('on a terminal, backup and restore draw a progress line; with stderr not a terminal they do not', async () => {
    const small = join(work, 'progress-src');
    mkdirSync(join(small, 'd'), { recursive: true });
    writeFileSync(join(small, 'd', 'f.bin'), randomBytes(300_000));
    const backup = await runClientOnTerminal(['backup', `root.bxar:${small}`, '--backup-id', 'tty', '--backup-time', String(T0)], env);
    assert.equal(backup.code, 0, backup.stdout.toString());
    assert.match(backup.stdout.toString(), /\r(root|meta|payload)[^\r\n]*: [\d.]+ (B|KiB|MiB), \d+ files, [\d.]+ MB\/s, sent [\d.]+ (B|KiB|MiB), \d+ % of chunks reused/);
    assert.match(backup.stdout.toString(), new RegExp(`\r\nsnapshot ${snap('tty', T0)}`), 'the summary starts on a line of its own');

    const restore = await runClientOnTerminal(['restore', snap('tty', T0), 'root.bxar', join(work, 'progress-out')], env);
    assert.equal(restore.code, 0, restore.stdout.toString());
    assert.match(restore.stdout.toString(), /\rroot\.bxar: 293 KiB, 2 entries, [\d.]+ MB\/s, 0 unchanged files skipped +\r\nrestored/);

    const piped = await runClient(['restore', snap('tty', T0), 'root.bxar', join(work, 'progress-out')], env);
    assert.equal(piped.code, 0);
    assert.equal(piped.stderr, '');
    assert.match(piped.stdout.toString(), /^restored \d+ entries, 0 B \(1 unchanged files skipped\)/);
  });

  test('namespaces: created, backed up into, listed and deleted from the client', async () => {
    assert.equal(await client(['namespace', 'create', 'prod'], env), 'created namespace prod\n');
    assert.equal(await client(['namespace', 'create', 'prod/web'], env), 'created namespace prod/web\n');
    const orphan = await runClient(['namespace', 'create', 'none/x'], env);
    assert.equal(orphan.code, 1);
    assert.equal(orphan.stderr, "bulwark-client: namespace 'none' not found\n");
    const small = join(work, 'ns-src');
    mkdirSync(small);
    writeFileSync(join(small, 'f.txt'), 'in a namespace\n');
    await client(['backup', `root.bxar:${small}`, '--ns', 'prod/web', '--backup-id', 'nsd', '--backup-time', String(T0)], env);
    assert.deepEqual(JSON.parse(await client(['namespace', 'list', 'prod', '--output-format', 'json'], env)), [{ ns: 'prod' }, { ns: 'prod/web' }]);
    const one = await runClient(['restore', snap('nsd', T0), 'root.bxar/f.txt', '-', '--ns', 'prod/web'], env);
    assert.equal(one.stdout.toString(), 'in a namespace\n');

    // A namespace holding groups is deleted only when asked to take them along.
    const refused = await runClient(['namespace', 'delete', 'prod/web'], env);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /namespace prod\/web is not empty: it holds 1 backup group .*--delete-groups/);
    assert.equal(JSON.parse(await client(['list', '--ns', 'prod/web', '--output-format', 'json'], env)).length, 1);
    assert.equal(await client(['namespace', 'delete', 'prod/web', '--delete-groups'], env), 'deleted namespace prod/web with its groups\n');
    assert.deepEqual(JSON.parse(await client(['namespace', 'list', '--output-format', 'json'], env)).map((r: { ns: string }) => r.ns).filter((n: string) => n.startsWith('prod')), ['prod']);
    assert.equal((await runClient(['namespace', 'delete', '/'], env)).code, 2);
  });

  test('snapshot forget, protected and notes, and prune of a group, from the client', async () => {
    const small = join(work, 'adm-src');
    mkdirSync(small);
    writeFileSync(join(small, 'f.txt'), 'x\n');
    const times = [4, 3, 2, 1].map((d) => T0 - d * 86400);
    for (const t of times) await client(['backup', `root.bxar:${small}`, '--backup-id', 'adm', '--backup-time', String(t)], env);
    const oldest = snap('adm', times[0]!);
    assert.equal(await client(['snapshot', 'protected', 'update', oldest, 'true'], env), `snapshot ${oldest} is now protected\n`);
    assert.equal(await client(['snapshot', 'protected', 'show', oldest], env), 'true\n');
    await client(['snapshot', 'notes', 'update', oldest, 'before the upgrade\nsecond line'], env);
    assert.equal(await client(['snapshot', 'notes', 'show', oldest], env), 'before the upgrade\nsecond line\n');

    type Row = { 'backup-time': number; keep: boolean; protected: boolean };
    const dry = JSON.parse(await client(['prune', 'host/adm', '--keep-last', '1', '--dry-run', '--output-format', 'json'], env)) as Row[];
    assert.deepEqual(dry.map((r) => [r['backup-time'], r.keep, r.protected]), [[times[3], true, false], [times[2], false, false], [times[1], false, false], [times[0], true, true]]);
    assert.equal(JSON.parse(await client(['snapshot', 'list', 'host/adm', '--output-format', 'json'], env)).length, 4, 'a dry run removes nothing');
    const text = await client(['prune', 'host/adm', '--keep-last', '1'], env);
    assert.match(text, new RegExp(`${snap('adm', times[1]!)} +remove`));
    assert.match(text, new RegExp(`${oldest} +keep \\(protected\\)`));
    const left = JSON.parse(await client(['snapshot', 'list', 'host/adm', '--output-format', 'json'], env)) as { 'backup-time': number }[];
    assert.deepEqual(left.map((r) => r['backup-time']), [times[0], times[3]]);

    const refused = await runClient(['snapshot', 'forget', oldest], env);
    assert.equal(refused.code, 1);
    assert.equal(refused.stderr, `bulwark-client: snapshot ${oldest} is protected; remove the protection first\n`);
    await client(['snapshot', 'protected', 'update', oldest, 'false'], env);
    assert.equal(await client(['snapshot', 'forget', oldest], env), `removed snapshot ${oldest}\n`);
    assert.equal(JSON.parse(await client(['snapshot', 'list', 'host/adm', '--output-format', 'json'], env)).length, 1);

    const badKeep = await runClient(['prune', 'host/adm', '--keep-last', 'all'], env);
    assert.equal(badKeep.code, 1);
    assert.equal(badKeep.stderr, 'bulwark-client: invalid value for --keep-last: all (a count)\n');
    assert.equal((await runClient(['snapshot', 'protected', 'update', snap('adm', times[3]!), 'maybe'], env)).code, 2);
  });

  test('bad arguments give one line and a non-zero exit', async () => {
    const r1 = await runClient(['backup', 'nonsense'], env);
    assert.equal(r1.code, 1);
    assert.match(r1.stderr, /expected NAME\.bxar:DIR or NAME\.img:FILE/);
    // Arguments are checked before a login: without a password (nor a kept ticket) the usage error still comes first.
    const noPassword = { ...env, BULWARK_PASSWORD: undefined };
    for (const [args, message] of [
      [['snapshot', 'forget'], /a snapshot is needed/],
      [['snapshot', 'notes', 'update', 'host/full/not-a-time'], /snapshot reference|backup time/],
      [['namespace', 'create'], /need a namespace other than the root/],
      [['prune'], /prune needs a group/],
    ] as const) {
      const r = await runClient(args, noPassword);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, message);
      assert.doesNotMatch(r.stderr, /password/);
    }
    const r2 = await runClient(['restore', 'host/full/not-a-time', 'root.bxar', '/tmp/x'], env);
    assert.notEqual(r2.code, 0);
    assert.equal(r2.stderr.trim().split('\n').length, 1);
    const r3 = await runClient(['list'], { ...env, BULWARK_PASSWORD: 'wrong' });
    assert.equal(r3.code, 1);
    assert.match(r3.stderr, /authentication failed/);
    const r4 = await runClient(['list'], { ...env, BULWARK_FINGERPRINT: '00'.repeat(32) });
    assert.equal(r4.code, 1);
    assert.match(r4.stderr, /does not match the pinned/);
  });
});
