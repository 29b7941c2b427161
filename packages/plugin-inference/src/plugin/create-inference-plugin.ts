import type { Plugin } from '@beamline/core';
import { InferenceRunCommand } from '../command/inference-run.js';
import { InferenceService } from '../service/inference-service.js';
import { InferenceOptionsToken, InferenceServiceToken } from '../tokens.js';
import type { InferencePluginOptions } from './plugin-options.js';

/**
 * Creates the inference plugin: the `inference.run` command, and, with a `modelRepository`, the
 * `inference` service (the model server, started and stopped by the runtime) under
 * {@link InferenceServiceToken}.
 *
 * @example
 * ```ts
 * const runtime = await createRuntime({
 *   plugins: [createInferencePlugin({ modelRepository: 'models', httpPort: 8000 })],
 * });
 * ```
 */
export function createInferencePlugin(options: InferencePluginOptions = {}): Plugin {
  return {
    name: 'inference',
    register(registry) {
      registry.provide(InferenceOptionsToken, options);
      registry.addCommand(InferenceRunCommand);
      if (options.modelRepository !== undefined) {
        registry.addService(InferenceService);
        registry.provideClass(InferenceServiceToken, InferenceService);
      }
    },
  };
}
