import { open, type FileHandle } from 'node:fs/promises';

/** Bytes read per call; a chunk of output is emitted per read. */
const READ_SIZE = 1024 * 1024;

/**
 * Reads a file that another machine appends to (a job's output on the shared filesystem) from where it
 * left off, byte-exact: every call returns what was appended since, as it is. A file that does not exist
 * yet reads as empty. `reopen` closes the handle first, so that a network filesystem shows what the node
 * wrote before the job ended (close-to-open consistency).
 */
export class OutputTail {
  private handle: FileHandle | undefined;
  private offset = 0;
  private reading: Promise<Buffer[]> | undefined;

  constructor(readonly path: string) {}

  /** Bytes read so far. */
  get size(): number {
    return this.offset;
  }

  /** Everything appended since the last read (several chunks for a lot of output). */
  read(): Promise<Buffer[]> {
    // One read at a time: two overlapping reads would both start at the same offset.
    const previous = this.reading ?? Promise.resolve([]);
    const next = previous.then(() => this.readNow());
    this.reading = next.catch(() => []);
    return next;
  }

  /** Everything up to the end of the file, through a fresh handle. */
  async drain(): Promise<Buffer[]> {
    await this.reading?.catch(() => undefined);
    await this.close();
    return this.read();
  }

  async close(): Promise<void> {
    const handle = this.handle;
    this.handle = undefined;
    await handle?.close().catch(() => undefined);
  }

  private async readNow(): Promise<Buffer[]> {
    if (this.handle === undefined) {
      try {
        this.handle = await open(this.path, 'r');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
        throw error;
      }
    }
    const chunks: Buffer[] = [];
    for (;;) {
      const buffer = Buffer.allocUnsafe(READ_SIZE);
      const { bytesRead } = await this.handle.read(buffer, 0, READ_SIZE, this.offset);
      if (bytesRead === 0) break;
      this.offset += bytesRead;
      chunks.push(bytesRead === READ_SIZE ? buffer : Buffer.from(buffer.subarray(0, bytesRead)));
      if (bytesRead < READ_SIZE) break;
    }
    return chunks;
  }
}
