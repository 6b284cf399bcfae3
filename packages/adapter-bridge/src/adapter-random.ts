import { ConfigError } from '@peft/core';
import * as tf from '@tensorflow/tfjs-core';

/** Where the adapter random stream stands: its seed and how many draws were taken from it. */
export interface AdapterRandomState {
  readonly seed: number;
  readonly draws: number;
}

// Process-wide, like tfjs' own random ops: one training run at a time draws from it. Null means
// unseeded, where every draw is fresh randomness (tfjs' default).
let stream: { seed: number; draws: number } | null = null;

/**
 * Makes every random draw of adapter layers (dropout masks, random initialisation) a function of
 * `seed` and the draw's position in the stream, so a training run repeats exactly. PyTorch users get
 * the same from `torch.manual_seed`; tfjs has no global seed, so methods draw through this stream.
 */
export function seedAdapterRandom(seed: number): void {
  restoreAdapterRandom({ seed, draws: 0 });
}

/** The stream's position, to save with a training checkpoint; null when unseeded. */
export function adapterRandomState(): AdapterRandomState | null {
  return stream ? { ...stream } : null;
}

/** Continues the stream from a saved position (null: back to unseeded randomness). */
export function restoreAdapterRandom(state: AdapterRandomState | null): void {
  if (state === null) {
    stream = null;
    return;
  }
  const { seed, draws } = state;
  if (!Number.isSafeInteger(seed) || !Number.isSafeInteger(draws) || draws < 0) {
    throw new ConfigError(
      `adapter random state needs an integer seed and a non-negative integer draw count, got ${JSON.stringify(state)}`,
    );
  }
  stream = { seed, draws };
}

/** The seed of the next draw: a 32-bit mix of (seed, draw index); undefined when unseeded. */
function nextSeed(): number | undefined {
  if (!stream) return undefined;
  const index = stream.draws++;
  let h = Math.imul(stream.seed >>> 0, 0x9e3779b1) ^ Math.floor(stream.seed / 2 ** 32);
  h = Math.imul(h ^ (index >>> 0), 0x85ebca6b) ^ Math.floor(index / 2 ** 32);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** `tf.dropout` with its mask from the adapter stream (a rate of 0 draws nothing and returns `x`). */
export function adapterDropout<T extends tf.Tensor>(x: T, rate: number): T {
  if (rate === 0) return x;
  return tf.dropout(x, rate, undefined, nextSeed()) as T;
}

/** Uniform values in [low, high) from the adapter stream. */
export function adapterRandomUniform(shape: number[], low: number, high: number): tf.Tensor {
  return tf.randomUniform(shape, low, high, 'float32', nextSeed());
}

/** Normal values from the adapter stream. */
export function adapterRandomNormal(shape: number[], mean = 0, std = 1): tf.Tensor {
  return tf.randomNormal(shape, mean, std, 'float32', nextSeed());
}
