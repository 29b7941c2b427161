import type { Store } from '@beamline/core';
import { CliError } from '../cli-error.js';

/**
 * The full id of a run named by its id or an unambiguous prefix or suffix of it. Run ids start with a
 * timestamp (`20250101-120000-f14c4a`), so people type either the start or the random end.
 */
export async function resolveRunId(store: Store, idOrPrefix: string): Promise<string> {
  if (await store.getRun(idOrPrefix)) return idOrPrefix;
  const matches = (await store.listRuns()).filter(
    (run) => run.id.startsWith(idOrPrefix) || run.id.endsWith(idOrPrefix),
  );
  const [first, second] = matches;
  if (first && !second) return first.id;
  if (!first) {
    throw new CliError(
      'CLI_NOT_FOUND',
      `No run '${idOrPrefix}' in ${store.description}. List runs with 'beamline runs'.`,
    );
  }
  throw new CliError(
    'CLI_NOT_FOUND',
    `'${idOrPrefix}' matches ${matches.length} runs (${matches
      .slice(0, 5)
      .map((run) => run.id)
      .join(', ')}${matches.length > 5 ? ', …' : ''}); give more of the id.`,
  );
}
