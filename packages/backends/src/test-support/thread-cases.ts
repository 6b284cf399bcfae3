import type { Bnb4Arrays } from '../kernels/bnb4-shared/arrays.js';
import { FP4_CODE, randomBnb4Arrays } from './random.js';

/** A product to run on kernel threads: its shapes, the weight's layout and how many threads. */
export interface ThreadCase {
  threads: number;
  rows: number;
  outFeatures: number;
  inFeatures: number;
  blocksize: number;
  nested: boolean;
  fp4?: boolean;
}

/**
 * Cases above the size where threads start (2^21 multiply-adds): one row with W's rows not a multiple of the
 * 16-row alignment, three threads with FP4 and plain scales, and more rows of input than one cached block (32)
 * with scale blocks that span rows of W.
 */
export const THREAD_CASES: ThreadCase[] = [
  { threads: 2, rows: 1, outFeatures: 1030, inFeatures: 2048, blocksize: 64, nested: true },
  { threads: 3, rows: 3, outFeatures: 522, inFeatures: 2048, blocksize: 256, nested: false, fp4: true },
  { threads: 2, rows: 35, outFeatures: 66, inFeatures: 1024, blocksize: 4096, nested: true },
];

/** The case's weight, the same for a given seed. */
export function threadCaseWeight(c: ThreadCase, seed: number): Bnb4Arrays {
  return randomBnb4Arrays({ ...c, code: c.fp4 ? FP4_CODE : undefined, seed });
}
