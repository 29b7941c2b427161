#!/usr/bin/env node
// `npm create beamline-plugin <name>` runs this. It is part of the source tree, not of the build, so that
// the workspace links it before anything is built; it runs the built program.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/index.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write(
    `create-beamline-plugin is not built (${fileURLToPath(entry)} is missing): run 'npm run build'.\n`,
  );
  process.exit(1);
}
const { main } = await import(entry.href);
process.exitCode = await main(process.argv.slice(2), {
  cwd: process.cwd(),
  write: (text) => process.stdout.write(text),
  writeError: (text) => process.stderr.write(text),
});
