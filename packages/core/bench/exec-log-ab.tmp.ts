import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import os from 'node:os';
import { join } from 'node:path';
import { lastValueFrom, tap } from 'rxjs';
import { execCommand, execParamsSchema } from '../src/commands/exec.js';
import { execCommand as oldExec } from './oldtmp/exec.js';
import type { CommandContext } from '../src/contracts/command.js';
import { LocalProcessRunner } from '../src/runners/local-process-runner.js';
import { MILLION_LINES_COMMAND, timeDirectToFile } from './exec-log.bench.js';
const run = async (cmd: typeof execCommand) => {
  const dir = mkdtempSync(join(tmpdir(), 'ab-'));
  const ctx: CommandContext = {
    runId: 'b',
    stepId: 'l',
    attempt: 1,
    signal: new AbortController().signal,
    workdir: dir,
    stepDir: dir,
    resources: { cpus: 1, memoryMb: 0, gpus: [] },
    runner: new LocalProcessRunner(),
    labels: {},
  };
  let chars = 0;
  const c = process.cpuUsage();
  const s = performance.now();
  await lastValueFrom(
    cmd.execute(ctx, execParamsSchema.parse({ command: MILLION_LINES_COMMAND })).pipe(
      tap((e) => {
        if (e.type === 'log') chars += e.text.length;
      }),
    ),
  );
  const u = process.cpuUsage(c);
  rmSync(dir, { recursive: true, force: true });
  return [performance.now() - s, (u.user + u.system) / 1000, chars];
};
const med = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
const r: Record<string, number[][]> = { old: [], new: [], direct: [] };
await run(execCommand);
await run(oldExec as never);
for (let i = 0; i < Number(process.argv[2] ?? 9); i++) {
  r.direct!.push([await timeDirectToFile(), 0]);
  r.old!.push(await run(oldExec as never));
  r.new!.push(await run(execCommand));
}
for (const k of ['direct', 'old', 'new'])
  console.log(
    k,
    'wall',
    med(r[k]!.map((x) => x[0]!)).toFixed(0),
    'cpu',
    med(r[k]!.map((x) => x[1]!)).toFixed(0),
    r[k]![0]![2],
  );
console.log('load', os.loadavg()[0]);
