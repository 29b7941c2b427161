/** One line of the Engine API's NDJSON progress stream (pull, build, load). */
export interface ProgressMessage {
  status?: string;
  id?: string;
  progress?: string;
  progressDetail?: { current?: number; total?: number };
  stream?: string;
  error?: string;
  errorDetail?: { code?: number; message?: string };
  aux?: { ID?: string };
}

/** A progress stream that reported a failure inside an HTTP 200 response. */
export class ProgressFailure extends Error {
  constructor(
    message: string,
    readonly failed: ProgressMessage,
    readonly messages: ProgressMessage[],
  ) {
    super(message);
    this.name = 'ProgressFailure';
  }
}

/**
 * Reads a progress stream to its end and fails on the first `error`/`errorDetail` line. dockerode's
 * `followProgress` reports such streams as successes (pitfall 5) and throws on a malformed line; here a
 * line that is not JSON is kept as plain `stream` text.
 */
export async function readProgress(
  stream: NodeJS.ReadableStream,
  onMessage?: (message: ProgressMessage) => void,
): Promise<ProgressMessage[]> {
  const messages: ProgressMessage[] = [];
  let buffered = '';
  let failure: ProgressFailure | undefined;
  const handle = (line: string): void => {
    const text = line.trim();
    if (text === '') return;
    let message: ProgressMessage;
    try {
      message = JSON.parse(text) as ProgressMessage;
    } catch {
      message = { stream: text };
    }
    messages.push(message);
    onMessage?.(message);
    if (failure === undefined && (message.error !== undefined || message.errorDetail !== undefined)) {
      const why = message.errorDetail?.message ?? message.error ?? 'unknown error';
      failure = new ProgressFailure(why, message, messages);
    }
  };
  for await (const chunk of stream) {
    buffered += typeof chunk === 'string' ? chunk : chunk.toString('utf8');
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      handle(buffered.slice(0, nl));
      buffered = buffered.slice(nl + 1);
    }
  }
  handle(buffered);
  if (failure !== undefined) throw failure;
  return messages;
}
