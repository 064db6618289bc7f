import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backupLine, progressPrinter, restoreLine } from '../../client/progress.ts';

/** A terminal of `columns` columns that records what is drawn. */
function terminal(columns: number, isTTY = true) {
  const written: string[] = [];
  const stream = { isTTY, columns, write: (s: string) => written.push(s) > 0 } as unknown as NodeJS.WriteStream;
  return { stream, written };
}

test('the line is redrawn at most every 100 ms, cut to the terminal width, and ended once', () => {
  let clock = 1_000;
  const { stream, written } = terminal(30);
  const p = progressPrinter((n: number, secs) => `n=${n} after ${secs} s, and some more text to cut`, stream, () => clock);
  p.update(1);
  clock += 50;
  p.update(2);
  clock += 50;
  p.update(3);
  p.done();
  assert.deepEqual(written, ['\rn=1 after 0.001 s, and some m', '\rn=3 after 0.1 s, and some mor', '\n']);
});

test('nothing is drawn when the stream is not a terminal', () => {
  const { stream, written } = terminal(80, false);
  const p = progressPrinter((n: number) => `n=${n}`, stream, () => 0);
  p.update(1);
  p.done();
  assert.deepEqual(written, []);
});

test('backup and restore lines carry bytes, counts, rate and the skipped or reused share', () => {
  assert.equal(
    backupLine({ archive: 'root', bytes: 3_000_000, files: 12, uploadedBytes: 1024, reusedChunks: 3, chunks: 4 }, 2),
    'root: 2.86 MiB, 12 files, 1.5 MB/s, sent 1.00 KiB, 75 % of chunks reused',
  );
  assert.equal(restoreLine('root.bxar', { entries: 7, bytes: 10_000_000, unchanged: 2 }, 4), 'root.bxar: 9.54 MiB, 7 entries, 2.5 MB/s, 2 unchanged files skipped');
});
