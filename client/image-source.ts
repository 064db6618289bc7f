/**
 * Images (`NAME.img:FILE_OR_BLOCKDEV`): the size of a regular file comes from
 * stat; a block device reports size 0 there, so its size is read from sysfs
 * (`/sys/dev/block/<major>:<minor>/size`, in 512-byte sectors). Data is read
 * in fixed chunks with positioned reads, so memory stays at one chunk.
 */
import { open, readFile, stat } from 'node:fs/promises';
import { bulwarkError } from '../errors.ts';

export const IMAGE_CHUNK_SIZE = 4 * 1024 * 1024;

export async function imageSize(path: string): Promise<number> {
  let st;
  try {
    st = await stat(path);
  } catch (err) {
    throw bulwarkError('BULWARK_NOT_FOUND', `image ${path}`, { cause: err });
  }
  if (st.isFile()) return st.size;
  if (st.isBlockDevice()) {
    const major = Math.floor(st.rdev / 256) & 0xfff;
    const minor = (st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00);
    const sectors = Number((await readFile(`/sys/dev/block/${major}:${minor}/size`, 'utf8')).trim());
    return sectors * 512;
  }
  throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'image', `${path} is neither a regular file nor a block device`);
}

/** Yields the image in `chunkSize` pieces (the last one shorter). */
export async function* readImageChunks(path: string, size: number, chunkSize = IMAGE_CHUNK_SIZE): AsyncGenerator<Buffer> {
  const handle = await open(path, 'r');
  try {
    for (let pos = 0; pos < size; pos += chunkSize) {
      const len = Math.min(chunkSize, size - pos);
      const buf = Buffer.allocUnsafe(len);
      let got = 0;
      while (got < len) {
        const { bytesRead } = await handle.read(buf, got, len - got, pos + got);
        if (bytesRead === 0) throw bulwarkError('BULWARK_IO', path, `image shrank while reading (ended at ${pos + got} of ${size} bytes)`);
        got += bytesRead;
      }
      yield buf;
    }
  } finally {
    await handle.close();
  }
}
