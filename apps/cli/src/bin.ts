#!/usr/bin/env node
// Entry point of the `stabilize` binary (built: dist/bin.js; from source: bin/stabilize.js).
import { run } from './program.js';

// EPIPE (e.g. `stabilize mg-status | head -1`) is not an error worth a stack trace.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

process.exitCode = await run(process.argv);
