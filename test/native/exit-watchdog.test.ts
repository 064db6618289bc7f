import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { armExitWatchdog } from '../../native/index.ts';
import { REPO_ROOT } from '../helpers/server-process.ts';

const NATIVE = join(REPO_ROOT, 'native', 'index.ts');

/** Runs `body` as a module in a fresh Node with armExitWatchdog imported; resolves with how it ended. */
function run(body: string): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve) => {
    const source = `import { armExitWatchdog } from ${JSON.stringify(NATIVE)};\n${body}`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', source], { cwd: REPO_ROOT, stdio: 'ignore' });
    child.on('close', (code, signal) => resolve({ code, signal }));
  });
}

test('a process whose main thread never comes back is ended with the armed exit code', async () => {
  // Atomics.wait with no timeout blocks the main thread for good, as Node's exit deadlock does.
  assert.deepEqual(await run('armExitWatchdog(100, 7);\nAtomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);'), { code: 7, signal: null });
});

test('a process that exits by itself is not held until the deadline and keeps its own exit code', async () => {
  assert.deepEqual(await run('armExitWatchdog(600_000, 7);\nprocess.exitCode = 3;'), { code: 3, signal: null });
});

test('a bad delay or exit code is refused, and nothing is armed', () => {
  for (const [ms, code] of [[-1, 0], [1.5, 0], [Number.NaN, 0], [10, 256], [10, -1], [10, 0.5]] as const) {
    assert.throws(() => armExitWatchdog(ms, code), { code: 'BULWARK_INVALID_ARGUMENT' });
  }
});
