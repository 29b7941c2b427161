import type { Plugin } from '../contracts/plugin.js';
import { CoreError } from '../errors/core-error.js';

/**
 * Plugins in registration order: each after its dependencies, otherwise as given. A duplicate name, a
 * missing dependency or a dependency cycle is a coded error before anything registers.
 */
export function orderPlugins(plugins: readonly Plugin[]): Plugin[] {
  const byName = new Map<string, Plugin>();
  for (const plugin of plugins) {
    if (byName.has(plugin.name)) {
      throw new CoreError('CORE_PLUGIN_DUPLICATE', `Plugin "${plugin.name}" is listed twice.`, {
        details: { plugin: plugin.name },
      });
    }
    byName.set(plugin.name, plugin);
  }
  for (const plugin of plugins) {
    for (const dependency of plugin.dependencies ?? []) {
      if (!byName.has(dependency)) {
        throw new CoreError(
          'CORE_PLUGIN_MISSING_DEPENDENCY',
          `Plugin "${plugin.name}" needs plugin "${dependency}", which is not in the runtime's plugin list.`,
          { details: { plugin: plugin.name, dependency } },
        );
      }
    }
  }
  const ordered: Plugin[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (plugin: Plugin, trail: string[]): void => {
    const seen = state.get(plugin.name);
    if (seen === 'done') return;
    if (seen === 'visiting') {
      throw new CoreError(
        'CORE_PLUGIN_CYCLE',
        `Plugin dependencies form a cycle: ${[...trail, plugin.name].join(' → ')}.`,
        {
          details: { cycle: [...trail, plugin.name] },
        },
      );
    }
    state.set(plugin.name, 'visiting');
    for (const dependency of plugin.dependencies ?? [])
      visit(byName.get(dependency)!, [...trail, plugin.name]);
    state.set(plugin.name, 'done');
    ordered.push(plugin);
  };
  for (const plugin of plugins) visit(plugin, []);
  return ordered;
}
