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
  /** The PEFT method trained: a registered training-capable method ("vera", "lora"). */
  method: string;
  /** Rank: VeRA's shared random projections, LoRA's A and B. */
  r: number;
  /**
   * More options of the method, by the names its contract declares, as `name=value` pairs separated by spaces
   * or commas (e.g. `loraAlpha=16 dropout=0.05`); checked in the worker against the method's option specs.
   */
  methodOptions: string;
  /** A registered quantizer for every linear layer but the head ("nf4", "fp4"), or "none". */
  quantize: string;
  /** Rows are cut to this many tokens (and to the model's positions). */
  seqLen: number;
  /** Your own model: the prompt generated from before and after fine-tuning (empty: the first held-out row's). */
  prompt: string;
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
  method: 'vera',
  r: 256,
  methodOptions: '',
  quantize: 'nf4',
  seqLen: 128,
  prompt: '',
  evalRows: 300,
  words: 5,
  maxNewTokens: 24,
  seed: 0,
  backend: 'auto',
};

const BACKENDS: readonly BackendChoice[] = ['auto', 'webgpu', 'wasm', 'cpu'];
/** The methods and quantizers the page offers (the worker registers exactly these). */
export const METHODS = ['vera', 'lora'] as const;
export const QUANTIZERS = ['nf4', 'fp4', 'none'] as const;

/** The query-string / form name of each option. */
export const OPTION_NAMES: Readonly<Record<keyof RunOptions, string>> = {
  steps: 'steps',
  batchSize: 'batch',
  learningRate: 'lr',
  method: 'method',
  r: 'r',
  methodOptions: 'methodOptions',
  quantize: 'quantize',
  seqLen: 'seqLen',
  prompt: 'prompt',
  evalRows: 'evalRows',
  words: 'words',
  maxNewTokens: 'maxNewTokens',
  seed: 'seed',
  backend: 'backend',
};

type ChoiceKey = 'backend' | 'method' | 'quantize';
type TextKey = 'methodOptions' | 'prompt';
type NumericKey = Exclude<keyof RunOptions, ChoiceKey | TextKey>;

const CHOICES: Record<ChoiceKey, readonly string[]> = {
  backend: BACKENDS,
  method: METHODS,
  quantize: QUANTIZERS,
};
/** Free text is bounded so a crafted link cannot hand the worker megabytes. */
const MAX_TEXT_CHARS = 4096;

const LIMITS: Record<NumericKey, { min: number; max: number; integer: boolean }> = {
  steps: { min: 1, max: 100_000, integer: true },
  batchSize: { min: 1, max: 512, integer: true },
  learningRate: { min: Number.MIN_VALUE, max: 10, integer: false },
  r: { min: 1, max: 4096, integer: true },
  seqLen: { min: 8, max: 8192, integer: true },
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
  for (const key of Object.keys(CHOICES) as ChoiceKey[]) {
    const value = params.get(OPTION_NAMES[key]);
    if (value === null) continue;
    if (!CHOICES[key].includes(value)) {
      throw new ConfigError(
        `option "${OPTION_NAMES[key]}": "${value}" is not one of ${CHOICES[key].join(', ')}`,
      );
    }
    (options as unknown as Record<ChoiceKey, string>)[key] = value;
  }
  for (const key of ['methodOptions', 'prompt'] as const) {
    const value = params.get(OPTION_NAMES[key]);
    if (value === null) continue;
    if (value.length > MAX_TEXT_CHARS) {
      throw new ConfigError(
        `option "${OPTION_NAMES[key]}": ${value.length} characters, at most ${MAX_TEXT_CHARS}`,
      );
    }
    options[key] = value;
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
