/**
 * The progress line on a terminal: bytes, files, MB/s and how much was
 * deduplicated, redrawn at most ten times a second on stderr. Silent when
 * stderr is not a terminal.
 */
import { humanBytes } from './output.ts';

export interface ProgressSample {
  readonly archive: string;
  readonly bytes: number;
  readonly files: number;
  readonly uploadedBytes: number;
  readonly reusedChunks: number;
  readonly chunks: number;
}

export function progressPrinter(stream: NodeJS.WriteStream = process.stderr, now: () => number = Date.now) {
  const start = now();
  let last = 0;
  let shown = false;
  return {
    update(p: ProgressSample): void {
      if (!stream.isTTY) return;
      const t = now();
      if (t - last < 100) return;
      last = t;
      const secs = Math.max(0.001, (t - start) / 1000);
      const dedup = p.chunks > 0 ? ((p.reusedChunks / p.chunks) * 100).toFixed(0) : '0';
      const line = `${p.archive}: ${humanBytes(p.bytes)}, ${p.files} files, ${(p.bytes / 1e6 / secs).toFixed(1)} MB/s, sent ${humanBytes(p.uploadedBytes)}, ${dedup} % of chunks reused`;
      stream.write(`\r${line.slice(0, (stream.columns ?? 120) - 1).padEnd(Math.min(stream.columns ?? 120, 120) - 1)}`);
      shown = true;
    },
    done(): void {
      if (shown) stream.write('\n');
    },
  };
}
