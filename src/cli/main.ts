#!/usr/bin/env node
// The `symtele` executable. Commands live in ./commands (see ./program.ts).
import { buildProgram } from './program.js';
import { exitWithError } from './run.js';

try {
  const program = await buildProgram();
  await program.parseAsync(process.argv);
  // Commands await their work; exit now rather than wait on handles a backend may keep open.
  process.exit(process.exitCode ?? 0);
} catch (e) {
  exitWithError(e);
}
