#!/usr/bin/env node
// The `beamline` command. It is part of the source tree, not of the build, so that `npm install` links it
// (node_modules/.bin/beamline) before anything is built; it runs the built program.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/bin.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  const root = fileURLToPath(new URL('../../..', import.meta.url));
  process.stderr.write(
    `beamline is not built yet (${fileURLToPath(entry)} is missing).\n` +
      `Build it with 'npm run build' in ${root} (the demo, 'bash scripts/demo.sh', builds it too).\n`,
  );
  process.exit(1);
}
await import(entry.href);
