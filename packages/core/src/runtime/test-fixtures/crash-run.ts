// Runs a pipeline file with the default SqliteStore in the given folder and prints the run id, so a
// test can kill this process with SIGKILL in the middle of the run.
import 'reflect-metadata';
import { createRuntime } from '../create-runtime.js';

const [cwd, file] = process.argv.slice(2);
const runtime = await createRuntime({ cwd: cwd! });
const handle = await runtime.runFile(file!);
process.stdout.write(`${handle.id}\n`);
await handle.done;
await runtime.close();
