export {
  createPlugin,
  pluginTemplate,
  type CreatedPlugin,
  type CreatePluginOptions,
} from './create-plugin.js';
export { CreatePluginError, isCreatePluginError, type CreatePluginErrorCode } from './create-plugin-error.js';
export { FEATURES, parseFeatures, type Feature } from './features.js';
export { main, USAGE, type MainIO } from './main.js';
