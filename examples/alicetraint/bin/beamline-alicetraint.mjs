#!/usr/bin/env node
// Runs the built program; with `node --conditions=source --import tsx` it runs the sources (as the tests do).
import { main } from '@beamline/example-alicetraint/cli';

process.exitCode = await main(process.argv.slice(2));
