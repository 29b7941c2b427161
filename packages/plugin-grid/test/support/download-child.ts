// Run as a child process by the kill -9 test: downloads the files given as JSON in argv[2] into argv[3].
import { lastValueFrom } from 'rxjs';
import { download } from '../../src/download/downloader.js';
import { toGridFile, type GridFileInput } from '../../src/model/grid-file.js';

const inputs = JSON.parse(process.argv[2] ?? '[]') as GridFileInput[];
const dest = process.argv[3] ?? '.';
await lastValueFrom(download(inputs.map((f, i) => toGridFile(f, i)), { dest, checkpointBytes: 256 * 1024 }), { defaultValue: undefined });
process.stdout.write('done\n');
