/**
 * Worker thread body of the write pool (write-pool.ts): runs each batch it
 * is sent, in order, and sends back the result with the batch's buffer, to
 * be filled again. `reset` ends a run (closes a file an abandoned run left
 * open, forgets a failure) so the next one starts clean.
 */
import { parentPort } from 'node:worker_threads';
import type { Batch, WriteSettings } from './write-batch.ts';
import { BatchRunner } from './write-exec.ts';

const runner = new BatchRunner();

parentPort!.on('message', (m: { id: number; batch: Batch; settings: WriteSettings } | { id: number; reset: true }) => {
  if ('reset' in m) {
    runner.reset();
    parentPort!.postMessage({ id: m.id, result: { warnings: [] } });
    return;
  }
  const result = runner.run(m.batch, m.settings);
  parentPort!.postMessage({ id: m.id, result, data: m.batch.data }, [m.batch.data]);
});
