import { CreatePluginError } from './create-plugin-error.js';

/** What a generated plugin contains besides its factory, tokens and error class. */
export type Feature = 'command' | 'runner' | 'service';

/** Every feature, in the order files and README sections are written. */
export const FEATURES: readonly Feature[] = ['command', 'runner', 'service'];

/** `command,runner` → `['command', 'runner']`, in canonical order; unknown names are refused. */
export function parseFeatures(list: string): Feature[] {
  const asked = list
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
  const unknown = asked.filter((item) => !(FEATURES as readonly string[]).includes(item));
  if (asked.length === 0 || unknown.length > 0) {
    throw new CreatePluginError(
      'CREATE_FEATURE_UNKNOWN',
      `--with ${JSON.stringify(list)}: expected one or more of ${FEATURES.join(', ')}, separated by commas` +
        (unknown.length > 0 ? ` (unknown: ${unknown.join(', ')})` : ''),
      { unknown },
    );
  }
  return FEATURES.filter((feature) => asked.includes(feature));
}
