import type { Clock } from '../contracts/runtime.js';

/** The system clock (`Date.now()`), the runtime's default `Tokens.Clock`. */
export const systemClock: Clock = { now: () => Date.now() };
