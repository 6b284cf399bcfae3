import type { Bnb4Attrs } from '../kernel-names.js';
import { activeKernelThreads } from './active-threads.js';
import type { KernelThreads } from './kernel-threads.js';

/** Below this many multiply-adds, waking a worker costs more than it saves. */
export const MIN_THREADED_WORK = 1 << 21;
/** Row counts are multiples of 16: dy·W rounds per chunk of 16 rows of W, and x·Wᵀ tiles are 4 rows. */
const ALIGN = 16;

/** How the rows of W are shared out: see rowPlan. */
export interface RowPlan {
  /** Rows 0 .. first - 1 are the calling thread's alone (read from the tfjs heap). */
  first: number;
  /** Rows first .. N - 1, in chunks of chunkRows, go to whichever thread claims them first. */
  chunkRows: number;
  chunkCount: number;
}

/**
 * The calling thread first computes 80% of an even share on its own (it needs no copy of those rows), then every
 * thread claims chunks of the rest, about eight chunks per thread, so a thread on a busy core takes fewer. A row's
 * (x·Wᵀ) or a 16-row chunk's (dy·W) result does not depend on who computes it.
 */
export function rowPlan(N: number, threads: number): RowPlan {
  const first = Math.min(N, Math.floor((0.8 * N) / threads / ALIGN) * ALIGN);
  const chunkRows = Math.max(ALIGN, Math.ceil((N - first) / (8 * threads) / ALIGN) * ALIGN);
  return { first, chunkRows, chunkCount: Math.ceil((N - first) / chunkRows) };
}

/** The running kernel threads, if a product with `rows` rows of input on this weight is worth them; else null. */
export function threadsFor(rows: number, a: Bnb4Attrs): KernelThreads | null {
  const threads = activeKernelThreads();
  return threads !== null &&
    rows * a.outFeatures * a.inFeatures >= MIN_THREADED_WORK &&
    a.outFeatures >= 8 * threads.count
    ? threads
    : null;
}
