import { createRequire } from 'node:module';
import { Command } from 'commander';
import './cli/builtins.js';
import { loadPlugins, pluginsRequested } from './cli/plugins.js';
import { commands } from './commands/index.js';
import { EXIT } from './exit-codes.js';
import { reportError } from './report-error.js';

/** This package's version (dist/program.js and src/program.ts both sit one folder below package.json). */
const VERSION = (createRequire(import.meta.url)('../package.json') as { version: string }).version;

/** Builds the `peft` program; every command lives in its own file under `commands/`. */
export function buildProgram(): Command {
  const program = new Command('peft')
    .description('Parameter-efficient fine-tuning and 4-bit quantization for TypeScript')
    .version(VERSION, '-V, --version', 'print the version of peft')
    // A usage error prints itself and one line, not the whole help (which would scroll the error away).
    .showHelpAfterError('(add --help for usage)')
    .exitOverride()
    .option(
      '--plugin <package-or-path>',
      'load a method or quantizer package first (repeatable; also PEFT_PLUGINS=a,b); its methods and quantizers join every command',
    );
  for (const register of commands) register(program);
  return program;
}

/** Runs the CLI and returns the process exit code (see exit-codes.ts) instead of exiting, so tests can call it. */
export async function runCli(argv: string[]): Promise<number> {
  try {
    await loadPlugins(pluginsRequested(argv.slice(2)));
    const program = buildProgram();
    await program.parseAsync(argv);
    return EXIT.ok;
  } catch (err) {
    return reportError(err);
  }
}
