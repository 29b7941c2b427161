import { parentPort } from 'node:worker_threads';
import { GridError } from '../src/errors/grid-error.js';
const x: number = 3;
parentPort!.postMessage(String(new GridError('GRID_IO_FAILED', 'hi ' + x).code));
