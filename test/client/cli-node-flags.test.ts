import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CLI_NODE_FLAGS } from '../../bin/cli-node-flags.ts';
import { REPO_ROOT } from '../helpers/server-process.ts';

const run = promisify(execFile);

/** The programs in bin/, the Node flags their #! line must carry, and what --help prints. */
const TOOLS = [
  { name: 'bulwark-client', flags: CLI_NODE_FLAGS, help: /Usage: bulwark-client/ },
  { name: 'bulwark-manager', flags: CLI_NODE_FLAGS, help: /Usage: bulwark-manager/ },
  { name: 'bulwark-server', flags: [], help: /--data-dir/ },
];

for (const { name, flags, help } of TOOLS) {
  const bin = join(REPO_ROOT, 'bin', name);

  test(`${name} runs as a program from any directory, with its Node flags (CLI: exit deadlock of nodejs/node#54918)`, async () => {
    const shebang = readFileSync(bin, 'utf8').split('\n', 1)[0]!;
    const args = shebang.replace(/^#!\/usr\/bin\/env -S /, '').split(' ');
    assert.equal(args[0], 'node', shebang);
    for (const flag of flags) assert.ok(args.includes(flag), `${shebang} lacks ${flag}`);
    assert.equal(JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')).bin[name], `bin/${name}`);
    accessSync(bin, constants.X_OK);
    // Outside the checkout, where `node --import tsx` would not find tsx.
    const elsewhere = mkdtempSync(join(tmpdir(), 'bulwark-cwd-'));
    try {
      const { stdout } = await run(bin, ['--help'], { cwd: elsewhere });
      assert.match(stdout, help);
    } finally {
      rmSync(elsewhere, { recursive: true, force: true });
    }
  });
}
