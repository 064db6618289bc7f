/**
 * Turns a payload stream (bytes to chunk, interleaved with whole chunks
 * reused from the previous snapshot) into upload items: each run of bytes
 * goes through the content-defined chunker, which is cut at the end of the
 * run so that reused chunks start on a chunk boundary, exactly as they were.
 */
import { chunkStream, type DynamicChunkerOptions } from './chunker/dynamic-chunker.ts';
import type { PayloadItem } from './archive/payload.ts';
import type { UploadItem } from './uploader.ts';

export async function* payloadChunks(items: AsyncIterable<PayloadItem>, opts: DynamicChunkerOptions = {}): AsyncGenerator<UploadItem> {
  const it = items[Symbol.asyncIterator]();
  let reused: Extract<PayloadItem, { kind: 'chunks' }> | undefined;
  let done = false;
  async function* dataRun(): AsyncGenerator<Buffer> {
    for (;;) {
      const r = await it.next();
      if (r.done) {
        done = true;
        return;
      }
      if (r.value.kind === 'data') yield r.value.data;
      else {
        reused = r.value;
        return;
      }
    }
  }
  while (!done) {
    yield* chunkStream(dataRun(), opts);
    if (reused) {
      yield* reused.chunks;
      reused = undefined;
    }
  }
}
