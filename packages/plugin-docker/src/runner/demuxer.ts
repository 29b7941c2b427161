/** Output of one multiplexed frame: 1 = stdout, 2 = stderr (0, stdin, is reported as stderr like docker-modem). */
export type FrameSink = (stream: 'stdout' | 'stderr', data: Buffer) => void;

/**
 * Splits the Engine API's multiplexed (non-TTY) attach stream into stdout and stderr, byte-exact across
 * arbitrary chunk boundaries. Each frame is an 8-byte header (stream type, 3 zero bytes, big-endian
 * length) and its payload. Unlike `modem.demuxStream` it hands out Buffers directly, never writes to
 * streams it does not own, and reports leftover bytes at the end so nothing is silently dropped.
 */
export class Demuxer {
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(private readonly sink: FrameSink) {}

  push(chunk: Buffer): void {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    for (;;) {
      if (this.pendingBytes < 8) return;
      const head = this.peek(8);
      const type = head[0];
      const size = head.readUInt32BE(4);
      if (this.pendingBytes < 8 + size) return;
      const frame = this.take(8 + size);
      if (size > 0) this.sink(type === 1 ? 'stdout' : 'stderr', frame.subarray(8));
    }
  }

  /** Bytes of an incomplete frame left when the stream ended (0 when the stream ended cleanly). */
  get leftover(): number {
    return this.pendingBytes;
  }

  private peek(n: number): Buffer {
    const first = this.pending[0];
    if (first !== undefined && first.length >= n) return first;
    const joined = Buffer.concat(this.pending);
    this.pending = [joined];
    return joined;
  }

  private take(n: number): Buffer {
    const joined = this.peek(n);
    const out = joined.subarray(0, n);
    const rest = joined.subarray(n);
    this.pending = rest.length > 0 ? [rest] : [];
    this.pendingBytes -= n;
    return out;
  }
}
