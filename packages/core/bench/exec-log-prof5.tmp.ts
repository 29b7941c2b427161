import { timeExecCollected } from './exec-log.bench.js';
for (let i = 0; i < 8; i++) await timeExecCollected();
