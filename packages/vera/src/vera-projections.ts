import { ConfigError, TorchGenerator, type TorchSeed, type UniformMode } from '@peft/core';
import { kaimingUniform } from './kaiming.js';

export interface VeraProjectionOptions {
  /** VeRA's `projection_prng_key` (PEFT's default is 0). */
  readonly seed: TorchSeed;
  readonly r: number;
  /** Largest in_features over all targeted layers. */
  readonly maxIn: number;
  /** Largest out_features over all targeted layers. */
  readonly maxOut: number;
  /** Default `'fma'`; see `UniformMode`. */
  readonly mode?: UniformMode;
}

export interface VeraProjections {
  /** Row-major `[r, maxIn]`; a layer uses the column slice `[:, :in_features]`. */
  readonly A: Float32Array;
  /** Row-major `[maxOut, r]`; a layer uses the row slice `[:out_features, :]`. */
  readonly B: Float32Array;
}

function requirePositiveInteger(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new ConfigError(`veraProjections: ${name} must be a positive integer, got ${value}`);
  }
}

/**
 * VeRA's shared projections exactly as PEFT regenerates them from `projection_prng_key`: one torch
 * CPU generator, `vera_A` drawn first with fan_in = maxIn, then `vera_B` with fan_in = r. Always
 * the full matrices: drawing only a slice would start `vera_B` at the wrong point of the stream.
 */
export function veraProjections(options: VeraProjectionOptions): VeraProjections {
  const { seed, r, maxIn, maxOut, mode = 'fma' } = options;
  requirePositiveInteger('r', r);
  requirePositiveInteger('maxIn', maxIn);
  requirePositiveInteger('maxOut', maxOut);
  const generator = new TorchGenerator(seed);
  const A = kaimingUniform([r, maxIn], generator, mode);
  const B = kaimingUniform([maxOut, r], generator, mode);
  return { A, B };
}
