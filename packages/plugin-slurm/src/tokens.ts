import { createToken } from '@beamline/core';
import type { SlurmPluginOptions } from './plugin/create-slurm-plugin.js';
import type { SlurmRunner } from './runner/slurm-runner.js';

/**
 * The Slurm runner the plugin registered for its main cluster (runner `slurm` unless renamed), for
 * applications (`runtime.resolve(SlurmRunnerToken)`) and other plugins' classes.
 */
export const SlurmRunnerToken = createToken<SlurmRunner>('beamline.slurm.runner');
/** Every Slurm runner the plugin registered: the main cluster's first, then those of `clusters`. */
export const SlurmRunnersToken = createToken<readonly SlurmRunner[]>('beamline.slurm.runners');
/** The options `createSlurmPlugin` was given; the main runner is built from them. */
export const SlurmOptionsToken = createToken<SlurmPluginOptions>('beamline.slurm.options');
