import { timeExecCollected, timeDirectToFile } from './exec-log.bench.js';
await timeExecCollected();
for (let i = 0; i < 5; i++)
  console.log((await timeDirectToFile()).toFixed(0), (await timeExecCollected()).ms.toFixed(0));
