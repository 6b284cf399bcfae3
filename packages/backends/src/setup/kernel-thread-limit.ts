import { BackendOptionError } from '../errors.js';

/**
 * Up to this many kernel threads are allowed whatever the core count: a few threads on fewer cores only share
 * them (useful to check that results do not depend on the thread count), while each thread costs a worker with its
 * own JavaScript heap, so an unbounded count would exhaust memory.
 */
export const KERNEL_THREADS_ALWAYS_ALLOWED = 4;

export function inNode(): boolean {
  return (
    typeof (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node === 'string'
  );
}

/** Cores this process may use (Node), else the browser's hardwareConcurrency, else 1. */
export async function coresAvailable(): Promise<number> {
  if (!inNode()) {
    const nav = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator;
    return Math.max(1, nav?.hardwareConcurrency ?? 1);
  }
  // A computed specifier keeps bundlers from trying to bundle node:os into browser builds (only Node gets here).
  const nodeOs = 'node:os';
  const os = (await import(/* @vite-ignore */ nodeOs)) as {
    availableParallelism?: () => number;
    cpus(): unknown[];
  };
  return Math.max(1, os.availableParallelism?.() ?? os.cpus().length);
}

/** The most kernel threads allowed on a machine with `cores` cores. */
export function kernelThreadLimit(cores: number): number {
  return Math.max(KERNEL_THREADS_ALWAYS_ALLOWED, cores);
}

/**
 * The kernel thread count `asked` resolves to (absent: 1; `'auto'`: `auto`, every core in Node), or
 * BackendOptionError when it is not a whole number from 1 to kernelThreadLimit(cores).
 */
export function resolveKernelThreads(asked: unknown, cores: number, auto = cores): number {
  if (asked === undefined) return 1;
  if (asked === 'auto') return auto;
  const limit = kernelThreadLimit(cores);
  if (typeof asked !== 'number' || !Number.isInteger(asked) || asked < 1 || asked > limit)
    throw new BackendOptionError(
      'kernelThreads',
      `${typeof asked === 'string' ? JSON.stringify(asked) : String(asked)} is not allowed: use a whole number from 1 to ${limit} ` +
        `(this machine has ${cores} core${cores === 1 ? '' : 's'}; up to ${KERNEL_THREADS_ALWAYS_ALLOWED} are always allowed) or "auto"`,
    );
  return asked;
}
