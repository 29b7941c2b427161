// Run as a child process by the kill -9 and crash-harness tests (under --unhandled-rejections=strict):
// downloads the files given as JSON in argv[2] into argv[3], with the DownloadOptions in argv[4] (JSON).
// Prints its peak RSS ("maxrss <KiB>") and "done" and exits 0, or prints {"code", "message"} of the
// GridError and exits 3. Anything else (an uncaught exception, an unhandled rejection) is a crash:
// Node's own exit code and a stack trace.
import { lastValueFrom } from 'rxjs';
import { download } from '../../src/download/downloader.js';
import { isGridError } from '../../src/errors/grid-error.js';
import { toGridFile, type GridFileInput } from '../../src/model/grid-file.js';

const inputs = JSON.parse(process.argv[2] ?? '[]') as GridFileInput[];
const dest = process.argv[3] ?? '.';
const options = JSON.parse(process.argv[4] ?? '{}') as Record<string, unknown>;
try {
  await lastValueFrom(
    download(
      inputs.map((f, i) => toGridFile(f, i)),
      { checkpointBytes: 256 * 1024, ...options, dest },
    ),
    { defaultValue: undefined },
  );
  // The kernel's high-water mark of this process's resident memory (KiB), for the memory tests.
  process.stdout.write(`maxrss ${process.resourceUsage().maxRSS}\n`);
  process.stdout.write('done\n');
} catch (e) {
  if (!isGridError(e)) throw e;
  process.stdout.write(`${JSON.stringify({ code: e.code, message: e.message, details: e.details })}\n`);
  process.exitCode = 3;
}
