import { CreatePluginError } from './create-plugin-error.js';

/** How a plugin's name is spelled in each place of the generated code. */
export interface PluginNames {
  /** The registered plugin name and command prefix: `acme-shout`. */
  readonly plugin: string;
  /** Class names: `AcmeShout` (`AcmeShoutError`, `AcmeShoutRunner`). */
  readonly pascal: string;
  /** The factory: `createAcmeShoutPlugin`. */
  readonly factory: string;
  /** Error code prefix: `ACME_SHOUT`. */
  readonly constant: string;
  /** The npm package: `beamline-plugin-acme-shout` unless given. */
  readonly packageName: string;
}

const PLUGIN_NAME = /^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$/;
const MAX_PLUGIN_NAME = 40;
// npm's rules for new packages: lowercase, URL-safe, at most 214 characters, an optional scope.
const PACKAGE_NAME = /^(?:@[a-z0-9][a-z0-9._~-]*\/)?[a-z0-9][a-z0-9._~-]*$/;

/** Validates a plugin name (`acme`, `acme-shout`) and derives every spelling the templates use. */
export function pluginNames(name: string, packageName?: string): PluginNames {
  if (!PLUGIN_NAME.test(name) || name.length > MAX_PLUGIN_NAME) {
    throw new CreatePluginError(
      'CREATE_NAME_INVALID',
      `plugin name ${JSON.stringify(name)}: expected lowercase letters and digits in words joined by single ` +
        `hyphens, starting with a letter, at most ${MAX_PLUGIN_NAME} characters (like "acme" or "acme-shout")`,
      { name },
    );
  }
  const pkg = packageName ?? `beamline-plugin-${name}`;
  if (!PACKAGE_NAME.test(pkg) || pkg.length > 214) {
    throw new CreatePluginError(
      'CREATE_PACKAGE_NAME_INVALID',
      `package name ${JSON.stringify(pkg)}: expected an npm package name (lowercase, no spaces, optionally ` +
        `@scope/name, at most 214 characters)`,
      { packageName: pkg },
    );
  }
  const words = name.split('-');
  const pascal = words.map((word) => word[0]!.toUpperCase() + word.slice(1)).join('');
  return {
    plugin: name,
    pascal,
    factory: `create${pascal}Plugin`,
    constant: words.join('_').toUpperCase(),
    packageName: pkg,
  };
}
