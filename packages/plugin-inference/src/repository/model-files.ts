import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { InferenceError, invalid, isInferenceError } from '../errors/inference-error.js';
import {
  parseModelConfig,
  pbtxtToJson,
  type PartialModelConfig,
  type VersionPolicy,
} from '../model/model-config.js';
import { parsePbtxt } from '../model/pbtxt.js';

const MODEL_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

/** True for a name a model folder may have (no path separators, no leading dot). */
export function isModelName(name: string): boolean {
  return MODEL_NAME.test(name) && name.length <= 255;
}

/** The model folders of a repository (sorted; hidden entries and files skipped). */
export async function listModels(repository: string): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(repository, { withFileTypes: true });
  } catch (error) {
    throw new InferenceError(
      'INFERENCE_CONFIG_INVALID',
      `cannot read the model repository ${repository}: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  return entries
    .filter((entry) => entry.isDirectory() && isModelName(entry.name))
    .map((entry) => entry.name)
    .sort();
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/**
 * Reads a model's configuration: `override` (a load request's `parameters.config`, JSON text) first,
 * else `config.pbtxt`, else `config.json`, else an empty one to be auto-completed from the model.
 */
export async function readModelConfig(
  modelDir: string,
  name: string,
  override?: string,
): Promise<PartialModelConfig> {
  if (override !== undefined) {
    let json: unknown;
    try {
      json = JSON.parse(override);
    } catch (error) {
      throw invalid(`the load request's parameters.config is not JSON: ${(error as Error).message}`);
    }
    return parseModelConfig(json, name, "the load request's parameters.config");
  }
  const pbtxt = await readIfExists(join(modelDir, 'config.pbtxt'));
  const jsonText = await readIfExists(join(modelDir, 'config.json'));
  if (pbtxt !== undefined && jsonText !== undefined) {
    throw invalid(`model "${name}" has both config.pbtxt and config.json; keep one`);
  }
  if (pbtxt !== undefined) {
    const source = `${name}/config.pbtxt`;
    return parseModelConfig(pbtxtToJson(parsePbtxt(pbtxt, source)), name, source);
  }
  if (jsonText !== undefined) {
    const source = `${name}/config.json`;
    let json: unknown;
    try {
      json = JSON.parse(jsonText);
    } catch (error) {
      throw invalid(`${source}: not JSON: ${(error as Error).message}`);
    }
    return parseModelConfig(json, name, source);
  }
  return parseModelConfig({}, name, `${name} (no configuration file)`);
}

/** The numeric version folders of a model that hold its model file, ascending. */
export async function listVersions(modelDir: string, filename: string): Promise<number[]> {
  const entries = await readdir(modelDir, { withFileTypes: true });
  const versions: number[] = [];
  for (const entry of entries) {
    if (!entry.isDirectory() || !/^\d{1,15}$/.test(entry.name)) continue;
    try {
      await stat(join(modelDir, entry.name, filename));
      versions.push(Number(entry.name));
    } catch {
      // A version folder without the model file is not a version (Triton skips it too).
    }
  }
  return versions.sort((a, b) => a - b);
}

/** The versions a policy selects from those on disk; an error names what is missing. */
export function selectVersions(name: string, available: readonly number[], policy: VersionPolicy): number[] {
  if (available.length === 0)
    throw invalid(
      `model "${name}" has no version folder with a model file (expected ${name}/<number>/model.onnx)`,
    );
  if ('all' in policy) return [...available];
  if ('latest' in policy) return available.slice(-policy.latest.num_versions);
  const missing = policy.specific.versions.filter((version) => !available.includes(version));
  if (missing.length > 0)
    throw invalid(
      `model "${name}": version_policy asks for version ${missing.join(', ')}, which is not on disk`,
    );
  return [...new Set(policy.specific.versions)].sort((a, b) => a - b);
}

/** A cheap fingerprint of a model folder (names, sizes, mtimes), for the poll control mode. */
export async function fingerprintModel(modelDir: string): Promise<string> {
  const parts: string[] = [];
  const walk = async (dir: string, depth: number): Promise<void> => {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (error) {
      if (isInferenceError(error)) throw error;
      parts.push(`${dir}:unreadable`);
      return;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const entry of entries) {
      const path = join(dir, entry.name);
      if (entry.isDirectory() && depth < 3) await walk(path, depth + 1);
      else {
        try {
          const info = await stat(path);
          parts.push(`${path}:${info.size}:${info.mtimeMs}`);
        } catch {
          parts.push(`${path}:gone`);
        }
      }
    }
  };
  await walk(modelDir, 0);
  return parts.join('\n');
}
