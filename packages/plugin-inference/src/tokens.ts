import { createToken } from '@beamline/core';
import type { InferencePluginOptions } from './plugin/plugin-options.js';
import type { InferenceService } from './service/inference-service.js';

/** The `inference` service (the model server the runtime starts and stops), when a repository is served. */
export const InferenceServiceToken = createToken<InferenceService>('beamline.inference.service');
/** The options `createInferencePlugin` was given. */
export const InferenceOptionsToken = createToken<InferencePluginOptions>('beamline.inference.options');
