import { PeftError } from '@peft/core';
import { Command, CommanderError } from 'commander';
import { commands } from './commands/index.js';
import { CommandExit, EXIT } from './exit-codes.js';

/** Builds the `peft` program; every command lives in its own file under `commands/`. */
export function buildProgram(): Command {
  const program = new Command('peft')
    .description('Parameter-efficient fine-tuning and 4-bit quantization for TypeScript')
    .showHelpAfterError()
    .exitOverride();
  for (const register of commands) register(program);
  return program;
}

/** Runs the CLI and returns the process exit code (see exit-codes.ts) instead of exiting, so tests can call it. */
export async function runCli(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return EXIT.ok;
  } catch (err) {
    if (err instanceof CommandExit) return err.exitCode;
    if (err instanceof CommanderError) {
      return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    if (err instanceof PeftError) {
      process.stderr.write(`error: ${err.message}\n`);
      return EXIT.badInput;
    }
    process.stderr.write(
      `internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    return EXIT.internal;
  }
}
