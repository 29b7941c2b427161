/** Stable codes of the scaffolder's errors. */
export type CreatePluginErrorCode =
  | 'CREATE_NAME_INVALID'
  | 'CREATE_PACKAGE_NAME_INVALID'
  | 'CREATE_FEATURE_UNKNOWN'
  | 'CREATE_TARGET_EXISTS'
  | 'CREATE_USAGE';

/**
 * The scaffolder's error: a stable `code` and a message naming the bad input and what was expected.
 * (The scaffolder does not depend on `@beamline/core`, so that `npm create` installs nothing native; the
 * class has the shape of core's `BeamlineError`: `code`, `retryable`, `details`.)
 */
export class CreatePluginError extends Error {
  readonly retryable = false;

  constructor(
    readonly code: CreatePluginErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'CreatePluginError';
  }
}

/** True for a scaffolder error (by shape), optionally with a given code. */
export function isCreatePluginError(
  error: unknown,
  code?: CreatePluginErrorCode,
): error is CreatePluginError {
  return (
    error instanceof Error &&
    error.name === 'CreatePluginError' &&
    typeof (error as { code?: unknown }).code === 'string' &&
    (code === undefined || (error as unknown as { code: string }).code === code)
  );
}
