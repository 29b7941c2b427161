import { BeamlineError, type BeamlineErrorOptions } from '@beamline/core';

/** Stable codes of the errors this example raises. */
export type PetricErrorCode =
  'PETRIC_SUBMISSION_FAILED' | 'PETRIC_HARD_LIMIT' | 'PETRIC_SUBMISSION_INVALID' | 'PETRIC_DATASET_INVALID';

/** The one error class of the PETRIC example (codes prefixed `PETRIC_`); none is retryable. */
export class PetricError extends BeamlineError {
  declare readonly code: PetricErrorCode;

  constructor(code: PetricErrorCode, message: string, options: BeamlineErrorOptions = {}) {
    super(code, message, { ...options, retryable: false });
    this.name = 'PetricError';
  }
}
