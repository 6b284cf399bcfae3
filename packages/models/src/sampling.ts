import type { TorchGenerator } from '@peft/core';
import { InputError } from './errors.js';

/** How the next token is chosen from a row of logits. */
export interface SamplingOptions {
  /** false (default): greedy argmax. true: sample from the warped distribution. */
  readonly doSample: boolean;
  /** Divides the logits before top-k/top-p; 1 leaves them as they are. */
  readonly temperature: number;
  /** Keep only the k most likely tokens (ties with the k-th kept); 0 disables. */
  readonly topK: number;
  /** Keep the smallest set of most likely tokens whose probability reaches p; 1 disables. */
  readonly topP: number;
}

export function validateSampling(options: SamplingOptions): void {
  const { temperature, topK, topP } = options;
  if (!(temperature > 0) || !Number.isFinite(temperature)) {
    throw new InputError(
      `temperature must be a positive number, got ${temperature}; use doSample: false for greedy decoding`,
    );
  }
  if (!Number.isInteger(topK) || topK < 0)
    throw new InputError(`topK must be a non-negative integer, got ${topK}`);
  if (!(topP > 0 && topP <= 1)) throw new InputError(`topP must be in (0, 1], got ${topP}`);
}

/** Index of the largest logit (the first one on ties, as torch.argmax). */
export function argmax(logits: Float32Array): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[best]!) best = i;
  return best;
}

/** A uniform double in [0, 1) with 53 random bits from two 32-bit draws. */
export function uniformDouble(generator: TorchGenerator): number {
  const high = generator.nextUint32() >>> 5;
  const low = generator.nextUint32() >>> 6;
  return (high * 67108864 + low) / 9007199254740992;
}

/**
 * Picks a token with transformers' warpers in its order: temperature, then top-k, then top-p
 * (tokens whose cumulative probability from the least likely end stays within 1 - p are dropped,
 * the most likely always kept), then one draw from the renormalised distribution, in float64.
 */
export function pickToken(logits: Float32Array, options: SamplingOptions, generator: TorchGenerator): number {
  if (!options.doSample) return argmax(logits);
  const n = logits.length;
  const scores = new Float64Array(n);
  for (let i = 0; i < n; i++) scores[i] = logits[i]! / options.temperature;
  const kept = new Uint8Array(n).fill(1);

  if (options.topK > 0 && options.topK < n) {
    const threshold = [...scores].sort((a, b) => b - a)[options.topK - 1]!;
    for (let i = 0; i < n; i++) if (scores[i]! < threshold) kept[i] = 0;
  }

  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < n; i++) if (kept[i]) max = Math.max(max, scores[i]!);
  const weights = new Float64Array(n);
  let total = 0;
  for (let i = 0; i < n; i++) {
    if (!kept[i]) continue;
    weights[i] = Math.exp(scores[i]! - max);
    total += weights[i]!;
  }

  if (options.topP < 1) {
    // Ascending by probability; stable on ties, so the lower index counts as less likely first.
    const order = Array.from({ length: n }, (_, i) => i)
      .filter((i) => kept[i])
      .sort((a, b) => weights[a]! - weights[b]! || a - b);
    let cumulative = 0;
    for (let r = 0; r < order.length - 1; r++) {
      const i = order[r]!;
      cumulative += weights[i]! / total;
      if (cumulative > 1 - options.topP) break;
      kept[i] = 0;
    }
    total = 0;
    for (let i = 0; i < n; i++) if (kept[i]) total += weights[i]!;
  }

  let target = uniformDouble(generator) * total;
  let last = -1;
  for (let i = 0; i < n; i++) {
    if (!kept[i]) continue;
    last = i;
    target -= weights[i]!;
    if (target < 0) return i;
  }
  // Rounding left a sliver of probability mass past the end; it belongs to the last kept token.
  return last;
}
