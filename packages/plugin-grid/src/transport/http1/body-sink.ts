/**
 * Where a response body goes. The connection reads straight into `space()` when it can (no copy, no
 * allocation per socket read) and hands other bytes (chunked payload, body bytes that came with the
 * head) to `write`, which copies them. Both return a promise when the sink wants the connection to wait
 * (its buffers are all busy, or a rate limit): the connection stops reading from the socket until it
 * settles, so TCP flow control slows the sender. Either may throw (too many bytes, a failed write):
 * the connection is then closed and the error is the body's.
 */
export interface BodySink {
  /** Room for the next bytes, at most `max` long; undefined when the sink cannot take bytes now. */
  space(max: number): Uint8Array | undefined;
  /** `n` bytes were read into the start of the last `space()`. */
  commit(n: number): Promise<void> | undefined;
  /** Takes a copy of `data` (only valid during the call). */
  write(data: Uint8Array): Promise<void> | undefined;
}

/** A sink that keeps nothing (draining a body so that its connection can be reused). */
export const discardSink: BodySink = {
  space: () => undefined,
  commit: () => undefined,
  write: () => undefined,
};
