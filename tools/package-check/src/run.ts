import { spawn } from 'node:child_process';

export interface RunOptions {
  cwd: string;
  env?: NodeJS.ProcessEnv;
  /** Kill the command after this many ms (default 10 minutes). */
  timeoutMs?: number;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  code: number | null;
}

export class CommandError extends Error {
  constructor(
    readonly command: string,
    readonly result: RunResult,
  ) {
    super(
      `\`${command}\` exited with ${result.code}\n--- stdout ---\n${result.stdout.slice(-6000)}\n--- stderr ---\n${result.stderr.slice(-6000)}`,
    );
    this.name = 'CommandError';
  }
}

/** Runs a command without a shell and collects its output; never throws for a non-zero exit. */
export function runCommand(command: string, args: string[], options: RunOptions): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: options.timeoutMs ?? 600_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ stdout, stderr, code }));
  });
}

/** Runs a command and throws a `CommandError` (with its output) unless it exits 0. */
export async function mustRun(command: string, args: string[], options: RunOptions): Promise<RunResult> {
  const result = await runCommand(command, args, options);
  if (result.code !== 0) throw new CommandError(`${command} ${args.join(' ')}`, result);
  return result;
}
