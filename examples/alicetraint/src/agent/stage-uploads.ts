import { formatBytes, type StepEvent } from '@beamline/core';
import { closeSync, openSync, readdirSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Subscriber } from 'rxjs';
import type { AliceClient } from '../client/alice-client.js';
import { ResultType } from '../client/wire.js';
import { withRetries } from './with-retries.js';

/** Files of one folder to upload after a stage: `dir/*<ext>`, in name order. */
export interface ResultSpec {
  readonly dir: string;
  readonly ext: string;
  readonly type: ResultType;
  readonly description: string;
}

/**
 * A stage's two log files, `<stage>_out.log` and `<stage>_err.log` (the original module's names),
 * written as the stage's log events pass. `system` lines (Beamline's own: retries, uploads) go to the
 * out log.
 */
export class StageLogs {
  readonly outPath: string;
  readonly errPath: string;
  private out: number | undefined;
  private err: number | undefined;

  constructor(
    dir: string,
    readonly stage: string,
  ) {
    this.outPath = join(dir, `${stage}_out.log`);
    this.errPath = join(dir, `${stage}_err.log`);
    // A stage that runs again (a resumed task) starts its logs afresh.
    this.out = openSync(this.outPath, 'w');
    this.err = openSync(this.errPath, 'w');
  }

  write(stream: 'stdout' | 'stderr' | 'system', text: string): void {
    const fd = stream === 'stderr' ? this.err : this.out;
    if (fd === undefined) return;
    writeSync(fd, text.endsWith('\n') ? text : `${text}\n`);
  }

  close(): void {
    if (this.out !== undefined) closeSync(this.out);
    if (this.err !== undefined) closeSync(this.err);
    this.out = this.err = undefined;
  }
}

/** Uploads with retries, telling the step's log about each upload; what a retry cannot fix is thrown. */
export class StageUploader {
  constructor(
    private readonly client: AliceClient,
    private readonly taskId: number,
    private readonly subscriber: Subscriber<StepEvent>,
    private readonly signal: AbortSignal,
  ) {}

  /** The out log, then the err log (as the original: logs first, each named after its file). */
  async logs(logs: StageLogs): Promise<void> {
    for (const path of [logs.outPath, logs.errPath]) {
      const name = path.slice(path.lastIndexOf('/') + 1);
      await this.upload(path, ResultType.Log, name, `${logs.stage} log`);
    }
  }

  /** Every file a spec names; returns the uploaded names. */
  async results(specs: readonly ResultSpec[]): Promise<string[]> {
    const names: string[] = [];
    for (const spec of specs) {
      const files = listFiles(spec.dir, spec.ext);
      for (const file of files) {
        await this.upload(join(spec.dir, file), spec.type, file, spec.description);
        names.push(file);
      }
    }
    return names;
  }

  private async upload(path: string, type: ResultType, name: string, description: string): Promise<void> {
    await withRetries(
      () => this.client.uploadResult(this.taskId, { path, type, name, description }, this.signal),
      {
        signal: this.signal,
        onRetry: (attempt, delay, error) =>
          this.log(
            `upload of ${name} failed (${String((error as Error).message)}); retry ${attempt} in ${delay} ms`,
          ),
      },
    );
    this.log(`uploaded ${name} as ${typeName(type)} (${formatBytes(statSync(path).size)})`);
  }

  log(text: string): void {
    this.subscriber.next({ type: 'log', stream: 'system', text });
  }
}

function typeName(type: ResultType): keyof typeof ResultType {
  return (
    (Object.keys(ResultType) as (keyof typeof ResultType)[]).find((k) => ResultType[k] === type) ?? 'Log'
  );
}

function listFiles(dir: string, ext: string): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  return entries.filter((f) => f.endsWith(ext) && statSync(join(dir, f)).isFile()).sort();
}
