// Runs a pipeline file with the default SqliteStore in the given folder and prints the run id, so a
// test can kill this process (kill -9) while a step runs. Exits 0 when the run succeeded, 1 otherwise.
import 'reflect-metadata';
import { createRuntime } from '../../runtime/create-runtime.js';

const [cwd, file] = process.argv.slice(2);
const runtime = await createRuntime({ cwd: cwd! });
const handle = await runtime.runFile(file!);
process.stdout.write(`${handle.id}\n`);
const result = await handle.done;
await runtime.close();
process.exitCode = result.status === 'succeeded' ? 0 : 1;
