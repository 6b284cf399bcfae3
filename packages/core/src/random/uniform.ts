import { ConfigError } from '../errors.js';
import { roundSumToFloat32 } from './float32-rounding.js';
import type { TorchGenerator } from './torch-generator.js';

/**
 * How the compiled torch kernel evaluates `x * (to - from) + from`: `'fma'` with one rounding (x86-64
 * AVX2/AVX512 kernels, the usual Linux build), `'nofma'` with two (the DEFAULT kernel, used under
 * `ATEN_CPU_CAPABILITY=default` or on CPUs without AVX2). See docs/formats/torch-random.md.
 */
export type UniformMode = 'fma' | 'nofma';

export interface UniformOptions {
  /** Default `'fma'`. */
  readonly mode?: UniformMode;
  /**
   * Map a draw equal to `high` back to `low`, as recent torch versions do so that the range stays
   * half-open. Torch 1.13 does not. It never changes a symmetric range such as VeRA's.
   */
  readonly clampUpper?: boolean;
}

const FLOAT32_MAX = 3.4028234663852886e38;
const TWO_POW_MINUS_24 = 2 ** -24;

/**
 * One float32 element of torch's CPU `uniform_` from one 32-bit draw: the low 24 bits give
 * x in [0, 1) exactly, then `x * range32 + from32` is rounded as the kernel rounds it.
 * `x * range32` is exact in double (24-bit by 24-bit significands), so the only roundings left are
 * the float32 ones, done exactly by `roundSumToFloat32`.
 */
export function uniformFloat32(draw: number, from32: number, range32: number, mode: UniformMode): number {
  const product = (draw & 0xffffff) * TWO_POW_MINUS_24 * range32;
  return roundSumToFloat32(mode === 'fma' ? product : Math.fround(product), from32);
}

function checkBounds(low: number, high: number): void {
  // The same checks, in the same order, as torch's `uniform_` for a float32 tensor.
  if (!(low >= -FLOAT32_MAX && low <= FLOAT32_MAX)) {
    throw new ConfigError(`uniform_: low ${low} is out of bounds for float32`);
  }
  if (!(high >= -FLOAT32_MAX && high <= FLOAT32_MAX)) {
    throw new ConfigError(`uniform_: high ${high} is out of bounds for float32`);
  }
  if (!(low <= high)) {
    throw new ConfigError(`uniform_: expects a [low, high) range, but low ${low} > high ${high}`);
  }
  if (!(high - low <= FLOAT32_MAX)) {
    throw new ConfigError(`uniform_: high - low = ${high - low} exceeds the largest float32`);
  }
}

/**
 * Fills `out` in place exactly as `torch.empty(n).uniform_(low, high, generator=generator)` fills a
 * float32 CPU tensor: one `nextUint32()` per element, in order, continuing the generator's stream.
 * Returns `out`.
 */
export function uniform_(
  out: Float32Array,
  low: number,
  high: number,
  generator: TorchGenerator,
  options: UniformOptions = {},
): Float32Array {
  const mode = options.mode ?? 'fma';
  if (mode !== 'fma' && mode !== 'nofma') {
    throw new ConfigError(`uniform_: mode must be 'fma' or 'nofma', got ${JSON.stringify(mode)}`);
  }
  checkBounds(low, high);
  const from32 = Math.fround(low);
  const to32 = Math.fround(high);
  const range32 = roundSumToFloat32(to32, -from32);
  if (!Number.isFinite(range32)) {
    // Torch would fill the tensor with inf/NaN here; refusing is more useful than copying that.
    throw new ConfigError(`uniform_: float32(high) - float32(low) overflows float32 for [${low}, ${high})`);
  }
  const clampUpper = options.clampUpper === true;
  for (let i = 0; i < out.length; i++) {
    const value = uniformFloat32(generator.nextUint32(), from32, range32, mode);
    out[i] = clampUpper && value === to32 ? from32 : value;
  }
  return out;
}
