import 'reflect-metadata';
import { timeExecPersisted } from './exec-log-engine.bench.js';
import { timeExecCollected, timeDirectToFile } from './exec-log.bench.js';
const cpu = async (f: () => Promise<unknown>) => {
  const c = process.cpuUsage();
  const s = performance.now();
  await f();
  const u = process.cpuUsage(c);
  return `${(performance.now() - s).toFixed(0)}ms wall, cpu u${(u.user / 1000).toFixed(0)} s${(u.system / 1000).toFixed(0)}`;
};
await timeExecPersisted();
for (let i = 0; i < 4; i++) {
  console.log(
    'direct',
    await cpu(() => timeDirectToFile()),
    '| collected',
    await cpu(() => timeExecCollected()),
    '| persisted',
    await cpu(() => timeExecPersisted()),
  );
}
