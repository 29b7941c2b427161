#!/usr/bin/env node
// The `petric` program (built: run `npm run build` in examples/petric first).
import { main } from '../dist/cli.js';

process.exitCode = await main(process.argv.slice(2));
