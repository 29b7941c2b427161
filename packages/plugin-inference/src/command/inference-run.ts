import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, extname, isAbsolute, join, relative, resolve } from 'node:path';
import { defineCommand, type StepEvent } from '@beamline/core';
import { Observable } from 'rxjs';
import { glob } from 'tinyglobby';
import { z } from 'zod';
import { InferenceError, invalid, isInferenceError } from '../errors/inference-error.js';
import { decodeInfer, encodeInfer } from '../http/infer-codec.js';
import { ModelManager, type ProviderName } from '../repository/model-manager.js';

const providers = z.array(z.enum(['tensorrt', 'cuda', 'webgpu', 'cpu'])).min(1);

/** Parameters of `inference.run`. */
export const inferenceRunParamsSchema = z.strictObject({
  /** A `.onnx` file, or a model folder in Triton's layout (`<model>/<version>/model.onnx`, config optional). */
  model: z.string().min(1),
  /** Version of a model folder; default the highest the version policy loads. */
  version: z.union([z.string().regex(/^\d+$/), z.number().int().nonnegative()]).optional(),
  /** Request files (globs, relative to the work directory): V2 inference requests as JSON. */
  inputs: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
  /** Folder the responses are written to (one `<name>.json` per request); default `predictions`. */
  outputDir: z.string().min(1).default('predictions'),
  /** Execution providers in order; default: tensorrt, cuda, cpu where the step was granted a GPU, else cpu. */
  executionProviders: providers.optional(),
  /** Fail instead of falling back to a later provider. */
  strict: z.boolean().default(false),
});

/** The parameters `inference.run` takes, after defaults. */
export type InferenceRunParams = z.output<typeof inferenceRunParamsSchema>;

/** Sub-folder of `workdir` as an absolute path; refuses paths that leave it. */
function inside(workdir: string, path: string, what: string): string {
  const full = resolve(workdir, path);
  const rel = relative(workdir, full);
  if (rel.startsWith('..') || isAbsolute(rel))
    throw invalid(`${what} "${path}" is outside the step's work directory`);
  return full;
}

async function prepareRepository(
  workdir: string,
  model: string,
): Promise<{ repository: string; name: string; cleanup: string | undefined }> {
  const path = resolve(workdir, model);
  let info;
  try {
    info = await stat(path);
  } catch {
    throw invalid(`model "${model}" does not exist (expected a .onnx file or a model folder)`);
  }
  if (info.isDirectory()) return { repository: dirname(path), name: basename(path), cleanup: undefined };
  if (extname(path) !== '.onnx') throw invalid(`model "${model}" is neither a folder nor a .onnx file`);
  // A lone file becomes a one-model repository: <tmp>/<name>/1/model.onnx → the file.
  const repository = await mkdtemp(join(tmpdir(), 'beamline-inference-run-'));
  const name = basename(path, '.onnx').replace(/[^A-Za-z0-9_.-]/g, '_') || 'model';
  await mkdir(join(repository, name, '1'), { recursive: true });
  await symlink(path, join(repository, name, '1', 'model.onnx'));
  return { repository, name, cleanup: repository };
}

/**
 * `inference.run`: batch inference as a pipeline step. Loads the model in session workers (providers in
 * order with fallback, GPU ids from the step's grant), runs every request file matched by `inputs`, and
 * writes each response as `<outputDir>/<request name>.json` (written whole, then renamed), recorded as an
 * artifact with its SHA-256. Outputs: `dir`, `count`, `provider`, `model`, `version`.
 */
export const InferenceRunCommand = defineCommand({
  name: 'inference.run',
  version: '1',
  description: 'run an ONNX model over request files; responses as artifacts',
  params: inferenceRunParamsSchema,
  runnerIdentity: () => null,
  execute: (ctx, params) =>
    new Observable<StepEvent>((subscriber) => {
      const abort = new AbortController();
      let manager: ModelManager | undefined;
      const work = async (): Promise<void> => {
        const outDir = inside(ctx.workdir, params.outputDir, 'outputDir');
        const patterns = Array.isArray(params.inputs) ? params.inputs : [params.inputs];
        const files = (await glob(patterns, { cwd: ctx.workdir, onlyFiles: true, absolute: true })).sort();
        if (files.length === 0)
          throw invalid(`inputs ${JSON.stringify(patterns)} match no file in the work directory`);
        const { repository, name, cleanup } = await prepareRepository(ctx.workdir, params.model);
        try {
          const gpus = ctx.resources.gpus;
          const executionProviders: ProviderName[] =
            params.executionProviders ?? (gpus.length > 0 ? ['tensorrt', 'cuda', 'cpu'] : ['cpu']);
          manager = new ModelManager({
            repository,
            controlMode: 'explicit',
            executionProviders,
            strictProviders: params.strict,
            cpus: Math.max(1, Math.floor(ctx.resources.cpus)),
            onReport: (level, message) => {
              if (level !== 'info') subscriber.next({ type: 'log', stream: 'system', text: `${message}\n` });
            },
          });
          await manager.load(name);
          const target = manager.resolve(
            name,
            params.version === undefined ? undefined : String(params.version),
          );
          subscriber.next({
            type: 'log',
            stream: 'system',
            text: `model ${name} version ${target.version} on ${target.provider}\n`,
          });
          await mkdir(outDir, { recursive: true });
          const used = new Set<string>();
          for (const [index, file] of files.entries()) {
            if (abort.signal.aborted) return;
            const relativeName = relative(ctx.workdir, file);
            let stem = basename(file, extname(file));
            if (used.has(stem)) stem = relativeName.replace(/[/\\]/g, '__').replace(/\.[^.]*$/, '');
            used.add(stem);
            let decoded;
            let result;
            try {
              decoded = decodeInfer(await readFile(file), undefined, target.config);
              result = await target.infer({ ...decoded.request, signal: abort.signal });
            } catch (error) {
              throw isInferenceError(error, 'INFERENCE_INVALID_ARGUMENT')
                ? invalid(`${relativeName}: ${error.message}`)
                : error;
            }
            const { json } = encodeInfer(target, decoded.id, result, {
              binary: new Map(),
              binaryDefault: false,
            });
            const bytes = Buffer.from(json, 'utf8');
            const path = join(outDir, `${stem}.json`);
            const partial = `${path}.part-${process.pid}`;
            await writeFile(partial, bytes);
            await rename(partial, path);
            subscriber.next({
              type: 'artifact',
              artifact: {
                name: relative(ctx.workdir, path),
                path,
                sha256: createHash('sha256').update(bytes).digest('hex'),
                size: bytes.length,
                kind: 'file',
              },
            });
            subscriber.next({ type: 'progress', current: index + 1, total: files.length });
          }
          subscriber.next({
            type: 'outputs',
            outputs: {
              dir: relative(ctx.workdir, outDir) || '.',
              count: files.length,
              provider: target.provider,
              model: name,
              version: target.version,
            },
          });
        } finally {
          await manager?.stop();
          manager = undefined;
          if (cleanup) await rm(cleanup, { recursive: true, force: true });
        }
      };
      const onAbort = (): void => abort.abort();
      ctx.signal.addEventListener('abort', onAbort, { once: true });
      work().then(
        () => subscriber.complete(),
        (error: unknown) =>
          subscriber.error(
            isInferenceError(error)
              ? error
              : new InferenceError(
                  'INFERENCE_INTERNAL',
                  `inference.run failed: ${(error as Error).message}`,
                  { cause: error },
                ),
          ),
      );
      return () => {
        ctx.signal.removeEventListener('abort', onAbort);
        abort.abort();
        void manager?.stop();
      };
    }),
});
