import type { BackoffPolicy } from '@beamline/core';
import type { Redactor } from './redact.js';

/** Which run outcomes are posted. */
export interface NotifyOn {
  /** A run that succeeded. */
  readonly success: boolean;
  /** A run that failed, with its failed steps and their errors. */
  readonly failure: boolean;
  /** A run that was cancelled, with the reason. */
  readonly cancelled: boolean;
  /** A step still running `longStepAfterMs` after its attempt started (once per attempt). */
  readonly longStep: boolean;
}

/** The plugin's options after validation, as its classes receive them (`ChatSettingsToken`). */
export interface ChatSettings {
  /** The incoming-webhook URL: a secret (it holds the token), never printed. */
  readonly url: URL;
  /** Display name of the poster (Mattermost and legacy Slack webhooks honour it). */
  readonly username?: string;
  /** Channel override (`town-square`, `#alerts`), where the webhook allows one. */
  readonly channel?: string;
  /** Avatar of the poster. */
  readonly iconUrl?: string;
  readonly notifyOn: NotifyOn;
  readonly longStepAfterMs: number;
  /** Limit of one HTTP request, response included (ms). */
  readonly timeoutMs: number;
  /** Posts tried in all (1 = no retry), and the backoff between them. */
  readonly retry: { readonly attempts: number } & BackoffPolicy;
  /** Applied to every text before it is posted. */
  readonly redact: Redactor;
}
