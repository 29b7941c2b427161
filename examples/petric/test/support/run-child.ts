/** A challenge runner in its own process, for the kill -9 test: `run-child.ts <root> <budget seconds>`. */
import { runChallenge } from '../../src/challenge.js';

const [root, budget] = process.argv.slice(2);
await runChallenge(root!, { budgetSeconds: Number(budget), hardLimitSeconds: 300, gpus: [] });
