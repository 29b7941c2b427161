import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

/** A file's content digest: lower-case hex SHA-256 and size in bytes. */
export interface FileDigest {
  sha256: string;
  size: number;
}

/**
 * SHA-256 and size of a file, streamed in 1 MiB reads so large files never sit in memory. The one
 * implementation behind artifact digests (collected outputs, files moved between hosts).
 */
export async function digestFile(path: string, signal?: AbortSignal): Promise<FileDigest> {
  const hash = createHash('sha256');
  let size = 0;
  const stream = createReadStream(path, {
    highWaterMark: 1 << 20,
    ...(signal === undefined ? {} : { signal }),
  });
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { sha256: hash.digest('hex'), size };
}
