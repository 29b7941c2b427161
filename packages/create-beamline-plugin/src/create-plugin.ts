import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { format } from 'prettier';
import { CreatePluginError } from './create-plugin-error.js';
import type { Feature } from './features.js';
import { pluginNames } from './names.js';
import {
  ESLINT_CONFIG,
  GITIGNORE,
  packageJson,
  PRETTIER_CONFIG,
  TSCONFIG,
  TSCONFIG_BUILD,
  VITEST_CONFIG,
} from './templates/config-files.js';
import { readmeFile } from './templates/readme-file.js';
import {
  commandFile,
  errorFile,
  indexFile,
  pluginFile,
  runnerFile,
  serviceFile,
  tokensFile,
} from './templates/source-files.js';
import { testFile } from './templates/test-file.js';

/** What {@link createPlugin} generates. */
export interface CreatePluginOptions {
  /** The plugin's name (`acme`, `acme-shout`): its registered name and command prefix. */
  name: string;
  /** The npm package name; default `beamline-plugin-<name>`. */
  packageName?: string;
  /** Where to write it (created; must not exist or be empty); default `<cwd>/<package name without scope>`. */
  directory?: string;
  /** What the plugin contains besides its factory, tokens and error class; default `['command']`. */
  features?: readonly Feature[];
  /** Base of a relative `directory`; default `process.cwd()`. */
  cwd?: string;
}

/** What {@link createPlugin} wrote. */
export interface CreatedPlugin {
  /** The package's folder (absolute). */
  directory: string;
  packageName: string;
  /** Paths of the files written, relative to `directory`, sorted. */
  files: string[];
}

/**
 * The version of `@beamline/core` the generated package targets: the scaffolder is released with core,
 * so it is its own version (peer range `^major.minor.0`, core itself as the exact dev dependency).
 */
function targetCoreVersion(): string {
  const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return manifest.version;
}

/** The generated package's Prettier settings (its `.prettierrc.json`), which every generated file is formatted with. */
const PRETTIER_OPTIONS = JSON.parse(PRETTIER_CONFIG) as Record<string, unknown>;

/** Every file of the generated package, by relative path, formatted as its own `prettier --check` wants. */
export async function pluginTemplate(options: CreatePluginOptions): Promise<Map<string, string>> {
  const names = pluginNames(options.name, options.packageName);
  const features = options.features ?? ['command'];
  const files = new Map<string, string>([
    ['package.json', packageJson(names, features, targetCoreVersion())],
    ['tsconfig.json', TSCONFIG],
    ['tsconfig.build.json', TSCONFIG_BUILD],
    ['eslint.config.js', ESLINT_CONFIG],
    ['.prettierrc.json', PRETTIER_CONFIG],
    ['.gitignore', GITIGNORE],
    ['vitest.config.ts', VITEST_CONFIG],
    ['README.md', readmeFile(names, features)],
    ['src/index.ts', indexFile(names, features)],
    ['src/tokens.ts', tokensFile(names, features)],
    [`src/${names.plugin}-error.ts`, errorFile(names)],
    [`src/create-${names.plugin}-plugin.ts`, pluginFile(names, features)],
    ['test/plugin.test.ts', testFile(names, features)],
  ]);
  if (features.includes('command')) files.set('src/hello-command.ts', commandFile(names));
  if (features.includes('runner')) files.set(`src/${names.plugin}-runner.ts`, runnerFile(names));
  if (features.includes('service')) files.set(`src/${names.plugin}-service.ts`, serviceFile(names));
  for (const [path, text] of files) {
    if (/\.(?:ts|js|json|md)$/.test(path))
      files.set(path, await format(text, { ...PRETTIER_OPTIONS, filepath: path }));
  }
  return files;
}

/**
 * Generates a plugin package. The files are written into a temporary folder next to the target and
 * renamed into place at the end, so a failure leaves no half-written package; an existing non-empty
 * target is `CREATE_TARGET_EXISTS` and is not touched.
 */
export async function createPlugin(options: CreatePluginOptions): Promise<CreatedPlugin> {
  const files = await pluginTemplate(options);
  const names = pluginNames(options.name, options.packageName);
  const cwd = options.cwd ?? process.cwd();
  const directory = resolve(cwd, options.directory ?? basename(names.packageName));
  await refuseExisting(directory);
  await mkdir(dirname(directory), { recursive: true });
  const staging = join(dirname(directory), `.${basename(directory)}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    for (const [path, text] of files) {
      await mkdir(dirname(join(staging, path)), { recursive: true });
      await writeFile(join(staging, path), text, { flag: 'wx' });
    }
    await refuseExisting(directory);
    await rename(staging, directory);
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    if (
      (error as NodeJS.ErrnoException).code === 'ENOTEMPTY' ||
      (error as NodeJS.ErrnoException).code === 'EEXIST'
    ) {
      throw targetExists(directory);
    }
    throw error;
  }
  return { directory, packageName: names.packageName, files: [...files.keys()].sort() };
}

async function refuseExisting(directory: string): Promise<void> {
  let kind: 'file' | 'directory';
  try {
    kind = (await stat(directory)).isDirectory() ? 'directory' : 'file';
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  if (kind === 'file' || (await readdir(directory)).length > 0) throw targetExists(directory);
}

function targetExists(directory: string): CreatePluginError {
  return new CreatePluginError(
    'CREATE_TARGET_EXISTS',
    `${directory} already exists and is not an empty folder: choose another --dir, or remove it first`,
    { directory },
  );
}
