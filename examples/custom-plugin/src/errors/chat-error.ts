import { BeamlineError, isBeamlineError, type BeamlineErrorOptions } from '@beamline/core';

/** Stable codes of the errors this plugin raises; callers branch on these, never on messages. */
export type ChatErrorCode =
  | 'CHAT_CONFIG_INVALID'
  | 'CHAT_WEBHOOK_REJECTED'
  | 'CHAT_WEBHOOK_UNAVAILABLE'
  | 'CHAT_WEBHOOK_TIMEOUT'
  | 'CHAT_DELIVERY_FAILED'
  | 'CHAT_NOTIFIER_CLOSED';

/**
 * Whether each code may succeed on a retry of the same post: a server error, a rate limit or a timeout
 * passes; a refused payload or a bad option does not, and a delivery that already used up its own
 * retries is not retried again by the engine.
 */
const RETRYABLE: Readonly<Record<ChatErrorCode, boolean>> = {
  CHAT_CONFIG_INVALID: false,
  CHAT_WEBHOOK_REJECTED: false,
  CHAT_WEBHOOK_UNAVAILABLE: true,
  CHAT_WEBHOOK_TIMEOUT: true,
  CHAT_DELIVERY_FAILED: false,
  CHAT_NOTIFIER_CLOSED: false,
};

/** The error class of the chat plugin. `retryable` defaults per code. Messages never hold the webhook URL. */
export class ChatError extends BeamlineError {
  declare readonly code: ChatErrorCode;

  constructor(code: ChatErrorCode, message: string, options: BeamlineErrorOptions = {}) {
    super(code, message, { ...options, retryable: options.retryable ?? RETRYABLE[code] });
    this.name = 'ChatError';
  }
}

/** True for a chat plugin error (checks shape, not prototype), optionally with a given code. */
export function isChatError(error: unknown, code?: ChatErrorCode): error is ChatError {
  return (
    isBeamlineError(error) &&
    error.name === 'ChatError' &&
    error.code.startsWith('CHAT_') &&
    (code === undefined || error.code === code)
  );
}
