import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CLI_NODE_FLAGS } from '../../bin/cli-node-flags.ts';
import { REPO_ROOT } from '../helpers/server-process.ts';

const run = promisify(execFile);

for (const name of ['bulwark-client', 'bulwark-manager']) {
  const bin = join(REPO_ROOT, 'bin', `${name}.ts`);

  test(`${name} starts Node with the CLI flags (exit deadlock of nodejs/node#54918)`, async () => {
    const shebang = readFileSync(bin, 'utf8').split('\n', 1)[0]!;
    const args = shebang.replace(/^#!\/usr\/bin\/env -S /, '').split(' ');
    assert.equal(args[0], 'node', shebang);
    for (const flag of CLI_NODE_FLAGS) assert.ok(args.includes(flag), `${shebang} lacks ${flag}`);
    // Runs as a program through that line, from the checkout (where --import tsx resolves).
    accessSync(bin, constants.X_OK);
    const { stdout } = await run(bin, ['--help'], { cwd: REPO_ROOT });
    assert.match(stdout, new RegExp(name));
  });
}
