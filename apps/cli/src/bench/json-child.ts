// Runs a Node script in its own process and takes the last line of its stdout as JSON: the benches measure each
// run alone this way, so that a peak RSS is that run's and not the bench's.
import { spawn } from 'node:child_process';

/** `node <script> ...args`; rejects with the exit code and the end of stderr when it fails. */
export function runJsonChild<T>(script: string, args: readonly string[], label: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`${label} ${args.join(' ')} exited ${code}\n${stderr.slice(-4000)}`));
      else resolve(JSON.parse(stdout.trim().split('\n').at(-1)!) as T);
    });
  });
}

/** A setting from the environment (blank counts as unset). */
export function setting(name: string, fallback: string): string {
  return process.env[name]?.trim() || fallback;
}
