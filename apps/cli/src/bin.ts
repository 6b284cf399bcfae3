#!/usr/bin/env node
import { runCli } from './program.js';

// The repository's `pnpm peft` script runs from the repository root; it passes the folder it was called
// from, so relative paths on the command line mean what they meant where the user typed them.
const callerDir = process.env['PEFT_CALLER_CWD'];
if (callerDir) process.chdir(callerDir);

process.exitCode = await runCli(process.argv);
