import { parentPort, workerData } from 'node:worker_threads';
import { lastValueFrom } from 'rxjs';
import { download } from '../src/download/downloader.js';
import { toGridFile } from '../src/model/grid-file.js';
const { files, dest } = workerData as { files: Array<{ url: string; size: number; adler32: string }>; dest: string };
await lastValueFrom(download(files.map((f) => toGridFile(f)), { dest, parallel: 8, perHost: 8, credentials: { bearerToken: false } }), { defaultValue: undefined });
parentPort!.postMessage('done');
