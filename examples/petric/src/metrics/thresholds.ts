/** The challenge thresholds (`QualityMetrics.THRESHOLD` in PETRIC's `petric.py`). */
export const THRESHOLD = { RMSE_whole_object: 0.01, RMSE_background: 0.01, AEM_VOI: 0.005 } as const;

/** Tag prefix of the per-VOI absolute error of the mean. */
export const AEM_VOI_PREFIX = 'AEM_VOI_';

/** The threshold of a metric tag (`AEM_VOI_<name>` shares `AEM_VOI`'s); throws for other tags. */
export function thresholdFor(tag: string): number {
  if (tag === 'RMSE_whole_object' || tag === 'RMSE_background') return THRESHOLD[tag];
  if (tag.startsWith(AEM_VOI_PREFIX)) return THRESHOLD.AEM_VOI;
  throw new Error(
    `no threshold for metric ${JSON.stringify(tag)} (expected RMSE_whole_object, RMSE_background or AEM_VOI_<name>)`,
  );
}
