// The CLI's one place that turns an error into a message and an exit code (see exit-codes.ts).
import { PeftError } from '@peft/core';
import { toFileSystemError } from '@peft/core/node';
import { CommanderError } from 'commander';
import { CommandExit, EXIT } from './exit-codes.js';

/** Writes what went wrong to stderr (commander has already printed its own usage errors) and returns the exit code. */
export function reportError(err: unknown): number {
  if (err instanceof CommandExit) return err.exitCode;
  if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
  // Typed errors, and the user's file-system situation (disk full, read-only, permission denied, a
  // file where a folder should be) wherever a command met it: one sentence naming the path, no stack.
  const expected = err instanceof PeftError ? err : toFileSystemError(err);
  if (expected) {
    process.stderr.write(`error: ${expected.message}\n`);
    return EXIT.badInput;
  }
  process.stderr.write(
    `internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  return EXIT.internal;
}
