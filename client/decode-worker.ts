/**
 * Worker thread body of the chunk decode pool (decode-pool.ts): decodes
 * each blob it is sent into the shared memory that came with it, or else
 * moves the data back. Large results own their buffer and are moved as
 * they are; small ones may sit in Node's shared allocation pool, so they
 * go back as an exact copy.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { decodeChunk, loadBlobAddons } from '../datastore/blob.ts';
import { keyFromBytes } from '../datastore/crypt-key.ts';
import { decodeChunkInto } from './decode-into.ts';
import { serializeError } from './worker-error.ts';

// Before the first chunk arrives, not when it does.
loadBlobAddons();

const bytes = (workerData as { key?: Uint8Array }).key;
const key = bytes ? keyFromBytes(bytes) : undefined;
const opts = key ? { key } : {};

parentPort!.on('message', (m: { id: number; blob: Uint8Array; digest: Uint8Array; out?: SharedArrayBuffer; size?: number }) => {
  try {
    if (m.out) {
      parentPort!.postMessage({ id: m.id, length: decodeChunkInto(m.blob, m.digest, m.out, m.size!, key) });
      return;
    }
    const data = decodeChunk(m.blob, m.digest, opts);
    // A view of shared memory (an unencoded blob read into an arena slot) cannot be moved: copied too.
    const out = data.length >= 64 * 1024 && data.buffer instanceof ArrayBuffer ? data : new Uint8Array(data);
    parentPort!.postMessage({ id: m.id, data: out }, [out.buffer as ArrayBuffer]);
  } catch (err) {
    parentPort!.postMessage({ id: m.id, error: serializeError(err) });
  }
});
