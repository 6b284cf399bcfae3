import { type PeftWarning, setWarningHandler } from '@peft/adapter-bridge';
import { type BackendName, setupBackend } from '@peft/backends';
import { afterEach, beforeAll, describe, it } from 'vitest';
import { checkBackward, checkForward, checkMergeUnmerge, checkSaveLoad } from './checks.js';
import type { BaseLayerRow, MethodRow } from './rows.js';

export interface MatrixOptions {
  /** TensorFlow.js backend to run on (default "cpu"). */
  readonly backend?: BackendName;
}

/**
 * Declares the vitest suites for every method x base layer kind: forward, backward, save/load,
 * merge/unmerge. Call it from a spec file with the rows to cover (e.g. `[...methodRows, myRow]`).
 */
export function defineMatrix(
  methods: readonly MethodRow[],
  bases: readonly BaseLayerRow[],
  options: MatrixOptions = {},
): void {
  const warnings: PeftWarning[] = [];
  beforeAll(async () => {
    await setupBackend(options.backend ?? 'cpu');
    setWarningHandler((w) => warnings.push(w));
  });
  afterEach(() => {
    warnings.length = 0;
  });
  for (const method of methods) {
    describe(`method ${method.name}`, () => {
      for (const base of bases) {
        describe(`on ${base.name}`, () => {
          it('forward', () => checkForward(method, base));
          it('backward', () => checkBackward(method, base));
          it('save/load', () => checkSaveLoad(method, base));
          it('merge/unmerge', () => checkMergeUnmerge(method, base, () => warnings.map((w) => w.code)));
        });
      }
    });
  }
}
