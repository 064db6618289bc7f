/**
 * Worker thread body of the verify pool (verify-pool.ts). It reads each
 * chunk file itself, from `<store>/.chunks/<4 hex>/<digest>`, and checks it:
 * unencrypted kinds are decoded and their SHA-256 compared with the digest
 * (decodeChunk: magic, CRC, lz4, digest); encrypted kinds get the CRC check,
 * the most a server without the key can do. Only the digest comes in and a
 * small verdict goes out: no chunk bytes cross threads.
 *
 * Synchronous reads into one reused buffer, on purpose. Measured on this
 * machine kind (2 cores, warm page cache, 4 MiB chunks), async reads through
 * libuv's thread pool with a read-ahead buffer cost ~10 % more CPU and left
 * the cores partly idle: 1.07 GB/s against 1.45 GB/s with sync reads. The
 * pool keeps several requests queued per worker, so a worker never waits
 * for its next request; for high-latency storage give the pool more threads
 * than cores. The buffer grows to the largest chunk seen and never past
 * MAX_ENCODED_CHUNK_SIZE (a bigger file is corrupt and is not read).
 */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { isBulwarkError } from '../errors.ts';
import { decodeChunk, isEncryptedKind, kindOfMagic, MAX_ENCODED_CHUNK_SIZE, verifyBlobCrc } from './blob.ts';
import type { ChunkCheck, WorkerReply, WorkerRequest } from './verify-pool.ts';

const { chunkDir } = workerData as { chunkDir: string };
const port = parentPort!;

/** A typical 4 MiB chunk plus header fits the first allocation. */
let buffer = Buffer.allocUnsafe(4 * 1024 * 1024 + 64);

const ioVerdict = (path: string, err: unknown): ChunkCheck => ({ status: 'error', code: 'BULWARK_IO', message: `I/O error on ${path}: ${(err as Error).message}` });

/** The chunk's bytes (a view into `buffer`), or the verdict when it cannot be read. */
function readChunk(digest: string): Buffer | ChunkCheck {
  const path = join(chunkDir, digest.slice(0, 4), digest);
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? { status: 'missing' } : ioVerdict(path, err);
  }
  try {
    const { size } = fstatSync(fd);
    if (size > MAX_ENCODED_CHUNK_SIZE) {
      return { status: 'corrupt', code: 'BULWARK_CHUNK_TOO_LARGE', message: `chunk ${digest} has ${size} bytes, more than the largest valid chunk (${MAX_ENCODED_CHUNK_SIZE})`, size };
    }
    if (buffer.length < size) buffer = Buffer.allocUnsafe(size);
    let got = 0;
    while (got < size) {
      const n = readSync(fd, buffer, got, size - got, got);
      if (n === 0) break; // shorter than fstat said: decoding reports it as truncated
      got += n;
    }
    return buffer.subarray(0, got);
  } catch (err) {
    return ioVerdict(path, err);
  } finally {
    closeSync(fd);
  }
}

function checkChunk(digest: string): ChunkCheck {
  const blob = readChunk(digest);
  if (!Buffer.isBuffer(blob)) return blob;
  try {
    const kind = kindOfMagic(blob);
    if (kind !== undefined && isEncryptedKind(kind)) {
      verifyBlobCrc(blob, `chunk ${digest}`);
      return { status: 'ok', encrypted: true, size: blob.length };
    }
    // Anything else, an unknown magic included, goes through the full decode so the error says why.
    const data = decodeChunk(blob, Buffer.from(digest, 'hex'));
    return { status: 'ok', encrypted: false, size: blob.length, rawSize: data.length };
  } catch (err) {
    if (isBulwarkError(err)) return { status: 'corrupt', code: err.code, message: err.message, size: blob.length };
    return { status: 'error', code: 'BULWARK_INTERNAL', message: `internal error: ${(err as Error).message}` };
  }
}

port.on('message', (req: WorkerRequest) => {
  port.postMessage({ id: req.id, verdict: checkChunk(req.digest) } satisfies WorkerReply);
});
