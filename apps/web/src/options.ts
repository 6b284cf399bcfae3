import type { BackendChoice } from '@peft/backends';
import { ConfigError } from '@peft/core';

/** Everything a fine-tuning run can be told, from the form or the page's query string. */
export interface RunOptions {
  /** Optimisation steps. */
  steps: number;
  /** Training rows per step. */
  batchSize: number;
  /** Peak learning rate (linear warm-up over min(20, steps) steps, as `peft demo`, then cosine decay). */
  learningRate: number;
  /** VeRA rank: the size of the shared random projections. */
  r: number;
  /** Held-out rows the loss before and after is measured on (from the start of the eval file). */
  evalRows: number;
  /** Held-out words whose greedy pronunciation is shown before and after. */
  words: number;
  /** Tokens each generation may add at most. */
  maxNewTokens: number;
  /** Seeds the order of the training rows and VeRA's `projection_prng_key`. */
  seed: number;
  /** TensorFlow.js backend; `auto` takes WebGPU when there is an adapter, else wasm. */
  backend: BackendChoice;
}

export const DEFAULT_OPTIONS: Readonly<RunOptions> = {
  steps: 200,
  batchSize: 16,
  learningRate: 5e-2,
  r: 256,
  evalRows: 300,
  words: 5,
  maxNewTokens: 24,
  seed: 0,
  backend: 'auto',
};

const BACKENDS: readonly BackendChoice[] = ['auto', 'webgpu', 'wasm', 'cpu'];

/** The query-string / form name of each option. */
export const OPTION_NAMES: Readonly<Record<keyof RunOptions, string>> = {
  steps: 'steps',
  batchSize: 'batch',
  learningRate: 'lr',
  r: 'r',
  evalRows: 'evalRows',
  words: 'words',
  maxNewTokens: 'maxNewTokens',
  seed: 'seed',
  backend: 'backend',
};

type NumericKey = Exclude<keyof RunOptions, 'backend'>;

const LIMITS: Record<NumericKey, { min: number; max: number; integer: boolean }> = {
  steps: { min: 1, max: 100_000, integer: true },
  batchSize: { min: 1, max: 512, integer: true },
  learningRate: { min: Number.MIN_VALUE, max: 10, integer: false },
  r: { min: 1, max: 4096, integer: true },
  evalRows: { min: 1, max: 1_000_000, integer: true },
  words: { min: 0, max: 64, integer: true },
  maxNewTokens: { min: 1, max: 256, integer: true },
  seed: { min: 0, max: 2 ** 31 - 1, integer: true },
};

function parseNumber(key: NumericKey, text: string): number {
  const name = OPTION_NAMES[key];
  const { min, max, integer } = LIMITS[key];
  const value = Number(text.trim());
  if (text.trim() === '' || !Number.isFinite(value)) {
    throw new ConfigError(`option "${name}": "${text}" is not a number`);
  }
  if (integer && !Number.isInteger(value)) {
    throw new ConfigError(`option "${name}": ${text} must be a whole number`);
  }
  if (value < min || value > max) {
    const low = key === 'learningRate' ? 'above 0' : `at least ${min}`;
    throw new ConfigError(`option "${name}": ${text} must be ${low} and at most ${max}`);
  }
  return value;
}

/**
 * Reads options from `?steps=8&evalRows=16...` or a form's fields; absent ones keep their defaults,
 * a malformed one is a `ConfigError` naming it (a silently ignored typo would run something else).
 */
export function parseOptions(
  params: URLSearchParams,
  defaults: Readonly<RunOptions> = DEFAULT_OPTIONS,
): RunOptions {
  const options: RunOptions = { ...defaults };
  for (const key of Object.keys(LIMITS) as NumericKey[]) {
    const text = params.get(OPTION_NAMES[key]);
    if (text !== null) options[key] = parseNumber(key, text);
  }
  const backend = params.get(OPTION_NAMES.backend);
  if (backend !== null) {
    if (!BACKENDS.includes(backend as BackendChoice)) {
      throw new ConfigError(`option "backend": "${backend}" is not one of ${BACKENDS.join(', ')}`);
    }
    options.backend = backend as BackendChoice;
  }
  return options;
}

/** The options as query parameters (only those that differ from the defaults). */
export function optionsToParams(
  options: Readonly<RunOptions>,
  defaults: Readonly<RunOptions> = DEFAULT_OPTIONS,
): URLSearchParams {
  const params = new URLSearchParams();
  for (const key of Object.keys(OPTION_NAMES) as (keyof RunOptions)[]) {
    if (options[key] !== defaults[key]) params.set(OPTION_NAMES[key], String(options[key]));
  }
  return params;
}
