/** Output of one multiplexed frame: 1 = stdout, 2 = stderr (0, stdin, is reported as stderr like docker-modem). */
export type FrameSink = (stream: 'stdout' | 'stderr', data: Buffer) => void;

/**
 * Splits the Engine API's multiplexed (non-TTY) attach stream into stdout and stderr, byte-exact across
 * arbitrary chunk boundaries. Each frame is an 8-byte header (stream type, 3 zero bytes, big-endian
 * length) and its payload. Payload bytes are handed out as views of the incoming chunks as soon as they
 * arrive (no copying, no waiting for a whole frame): on a busy host every CPU cycle taken here is one
 * the daemon, which produces the stream, does not get. Unlike `modem.demuxStream` it never writes to
 * streams it does not own, and it reports an incomplete frame at the end so nothing is dropped silently.
 */
export class Demuxer {
  private readonly head = Buffer.alloc(8);
  private headLength = 0;
  private remaining = 0;
  private stream: 'stdout' | 'stderr' = 'stdout';

  constructor(private readonly sink: FrameSink) {}

  push(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.remaining === 0) {
        const n = Math.min(8 - this.headLength, chunk.length - offset);
        chunk.copy(this.head, this.headLength, offset, offset + n);
        this.headLength += n;
        offset += n;
        if (this.headLength === 8) {
          this.headLength = 0;
          this.stream = this.head[0] === 1 ? 'stdout' : 'stderr';
          this.remaining = this.head.readUInt32BE(4);
        }
        continue;
      }
      const n = Math.min(this.remaining, chunk.length - offset);
      this.sink(this.stream, chunk.subarray(offset, offset + n));
      this.remaining -= n;
      offset += n;
    }
  }

  /** Bytes still expected for an incomplete frame when the stream ended (0 when it ended cleanly). */
  get leftover(): number {
    return this.headLength + this.remaining;
  }
}
