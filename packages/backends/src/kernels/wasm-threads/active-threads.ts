import type { SimdBuild } from '../wasm-module/module-bytes.js';
import { KernelThreads } from './kernel-threads.js';
import { releaseMirrorsIn, weightMirrorBytes } from './weight-mirror.js';

// The kernel threads in use, if any: set up by setupBackend's `kernelThreads` option, read by the wasm kernels.

let active: KernelThreads | null = null;

/** The running kernel threads, or null (kernels then run on the calling thread alone). */
export function activeKernelThreads(): KernelThreads | null {
  return active;
}

/**
 * Runs the 4-bit matmul on `threads` threads (1 stops the workers). Returns null when that is in force, or why
 * not (the kernels then stay single-threaded).
 */
export async function useKernelThreads(threads: number): Promise<string | null> {
  if (!Number.isInteger(threads) || threads < 1)
    throw new RangeError(`kernelThreads must be a whole number >= 1 or "auto", got ${threads}`);
  if ((active?.count ?? 1) === threads) return null;
  const previous = active;
  active = null;
  if (previous) {
    await previous.stop();
    releaseMirrorsIn(previous.arena);
  }
  if (threads === 1) return null;
  const started = await KernelThreads.start(threads);
  if (typeof started === 'string') return started;
  active = started;
  return null;
}

export interface KernelThreadStats {
  /** Threads that compute a 4-bit matmul, the calling one included. */
  threads: number;
  /** Bytes of 4-bit weights copied for the worker threads (their rows only). */
  mirroredBytes: number;
  /** Bytes in use in the shared memory: the copies plus any call in progress. */
  sharedBytes: number;
  /** The build of the kernels' module the workers run (null without workers). */
  workerBuild: SimdBuild | null;
}

export function kernelThreadStats(): KernelThreadStats {
  return {
    threads: active?.count ?? 1,
    mirroredBytes: weightMirrorBytes(),
    sharedBytes: active?.arena.usedBytes ?? 0,
    workerBuild: active?.build ?? null,
  };
}
