/**
 * Worker thread body for the chunk encode pool: digest, compress and
 * (optionally) encrypt one chunk. Runs beside the main thread, which keeps
 * reading files and chunking.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { encodeBlob } from '../datastore/blob.ts';
import { keyFromBytes } from '../datastore/crypt-key.ts';
import { chunkDigest } from '../datastore/digest.ts';

const key = (workerData as { key?: Uint8Array }).key ? keyFromBytes((workerData as { key: Uint8Array }).key) : undefined;

parentPort!.on('message', (msg: { id: number; data: Uint8Array; compress: boolean }) => {
  const data = Buffer.from(msg.data.buffer, msg.data.byteOffset, msg.data.byteLength);
  const digest = chunkDigest(data, key);
  const blob = encodeBlob(data, { compress: msg.compress, ...(key && { key }) });
  parentPort!.postMessage({ id: msg.id, digest, blob }, [blob.buffer as ArrayBuffer]);
});
