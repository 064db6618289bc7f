/**
 * Worker thread body of the verify pool (verify-pool.ts). It reads each
 * chunk file itself, from `<store>/.chunks/<4 hex>/<digest>`, and checks it:
 * unencrypted kinds are decoded and their SHA-256 compared with the digest
 * (decodeChunk: magic, CRC, lz4, digest); encrypted kinds get the CRC check,
 * the most a server without the key can do. Only the digest goes in and a
 * small verdict comes out: no chunk bytes cross threads.
 *
 * Pipeline: two read buffers. While one chunk is hashed on this thread, the
 * next is read on libuv's thread pool, so disk latency overlaps hashing.
 * Buffers grow to the largest chunk seen and never past
 * MAX_ENCODED_CHUNK_SIZE (a bigger file is corrupt and is not read), so a
 * worker holds at most 2 × 16 MiB.
 */
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { isBulwarkError } from '../errors.ts';
import { decodeChunk, isEncryptedKind, kindOfMagic, MAX_ENCODED_CHUNK_SIZE, verifyBlobCrc } from './blob.ts';
import type { ChunkCheck, WorkerReply, WorkerRequest } from './verify-pool.ts';

const { chunkDir } = workerData as { chunkDir: string };
const port = parentPort!;

/** A typical 4 MiB chunk plus header fits the first allocation. */
const INITIAL_BUFFER = 4 * 1024 * 1024 + 64;
const buffers: Buffer[] = [Buffer.allocUnsafe(INITIAL_BUFFER), Buffer.allocUnsafe(INITIAL_BUFFER)];

type Loaded = { req: WorkerRequest; blob: Buffer } | { req: WorkerRequest; verdict: ChunkCheck };

const errnoOf = (err: unknown): string | undefined => (err as NodeJS.ErrnoException | null)?.code;
const ioVerdict = (path: string, err: unknown): ChunkCheck => ({ status: 'error', code: 'BULWARK_IO', message: `I/O error on ${path}: ${(err as Error).message}` });

/** Reads the chunk into buffers[slot]; never rejects (failures become verdicts). */
async function load(req: WorkerRequest, slot: number): Promise<Loaded> {
  const path = join(chunkDir, req.digest.slice(0, 4), req.digest);
  let handle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    return { req, verdict: errnoOf(err) === 'ENOENT' ? { status: 'missing' } : ioVerdict(path, err) };
  }
  try {
    const { size } = await handle.stat();
    if (size > MAX_ENCODED_CHUNK_SIZE) {
      return { req, verdict: { status: 'corrupt', code: 'BULWARK_CHUNK_TOO_LARGE', message: `chunk ${req.digest} has ${size} bytes, more than the largest valid chunk (${MAX_ENCODED_CHUNK_SIZE})`, size } };
    }
    if (buffers[slot]!.length < size) buffers[slot] = Buffer.allocUnsafe(size);
    const buf = buffers[slot]!;
    let got = 0;
    while (got < size) {
      const { bytesRead } = await handle.read(buf, got, size - got, got);
      if (bytesRead === 0) break; // shorter than stat said: decoding reports it as truncated
      got += bytesRead;
    }
    return { req, blob: buf.subarray(0, got) };
  } catch (err) {
    return { req, verdict: ioVerdict(path, err) };
  } finally {
    await handle.close().catch(() => undefined);
  }
}

function check(blob: Buffer, digest: string): ChunkCheck {
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

const queue: WorkerRequest[] = [];
let running = false;

async function drain(): Promise<void> {
  running = true;
  let slot = 0;
  let next: Promise<Loaded> | undefined = load(queue.shift()!, slot);
  while (next !== undefined) {
    const cur = await next;
    // Start the next read before hashing this one; it fills the other buffer.
    slot ^= 1;
    next = queue.length > 0 ? load(queue.shift()!, slot) : undefined;
    const verdict = 'blob' in cur ? check(cur.blob, cur.req.digest) : cur.verdict;
    port.postMessage({ id: cur.req.id, verdict } satisfies WorkerReply);
  }
  running = false;
}

port.on('message', (req: WorkerRequest) => {
  queue.push(req);
  if (!running) void drain();
});
