import { ConfigError } from '../errors.js';

/** A seed as `torch.Generator.manual_seed` accepts it: any integer in [-2^63, 2^64 - 1]. */
export type TorchSeed = number | bigint;

/** The seed of an unseeded `torch.Generator()` (`c10::default_rng_seed_val`). */
export const TORCH_DEFAULT_SEED = 67280421310721n;

const STATE_SIZE = 624;
const SHIFT_SIZE = 397;
const MATRIX_A = 0x9908b0df;
const UPPER_MASK = 0x80000000;
const LOWER_MASK = 0x7fffffff;
const MIN_SEED = -(2n ** 63n);
const MAX_SEED = 2n ** 64n - 1n;

/**
 * Torch reads the Python integer as a uint64 (negative values as their int64 two's-complement bit
 * pattern). Numbers beyond 2^53 are refused rather than silently rounded: they would name a
 * different seed than the one the caller wrote.
 */
function toUint64Seed(seed: TorchSeed): bigint {
  let value: bigint;
  if (typeof seed === 'bigint') {
    value = seed;
  } else if (typeof seed === 'number' && Number.isSafeInteger(seed)) {
    value = BigInt(seed);
  } else {
    throw new ConfigError(
      `seed ${String(seed)} is not a safe integer; pass an integer number within ±(2^53 - 1) or a bigint`,
    );
  }
  if (value < MIN_SEED || value > MAX_SEED) {
    throw new ConfigError(`seed ${value} is outside the range torch accepts, [-2^63, 2^64 - 1]`);
  }
  return BigInt.asUintN(64, value);
}

/**
 * The CPU random stream of `torch.Generator()`: a standard MT19937 (the same as C++
 * `std::mt19937` and numpy's legacy `RandomState`) seeded with the low 32 bits of the uint64 seed.
 * Written here rather than taken from a package because the npm MT19937 ports either seed
 * differently (init_by_array) or round-trip through doubles, and bit-exactness with torch is the
 * whole point.
 */
export class TorchGenerator {
  readonly #state = new Uint32Array(STATE_SIZE);
  #index = STATE_SIZE;
  #initialSeed = 0n;

  constructor(seed: TorchSeed = TORCH_DEFAULT_SEED) {
    this.manualSeed(seed);
  }

  /** Re-seeds in place, like `torch.Generator.manual_seed`, and returns this generator. */
  manualSeed(seed: TorchSeed): this {
    this.#initialSeed = toUint64Seed(seed);
    const state = this.#state;
    state[0] = Number(BigInt.asUintN(32, this.#initialSeed));
    for (let i = 1; i < STATE_SIZE; i++) {
      const previous = state[i - 1]!;
      state[i] = Math.imul(1812433253, previous ^ (previous >>> 30)) + i;
    }
    // A twist happens before the first output, as in the reference implementation.
    this.#index = STATE_SIZE;
    return this;
  }

  /** The seed as torch reports it from `initial_seed()`: the uint64 bit pattern of what was passed. */
  initialSeed(): bigint {
    return this.#initialSeed;
  }

  /** The next 32-bit output (torch's `random()`); one call per float32 element of `uniform_`. */
  nextUint32(): number {
    if (this.#index >= STATE_SIZE) this.#twist();
    let y = this.#state[this.#index++]!;
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** An independent generator at the same point of the same stream. */
  clone(): TorchGenerator {
    const copy = new TorchGenerator(this.#initialSeed);
    copy.#state.set(this.#state);
    copy.#index = this.#index;
    return copy;
  }

  // Three loops instead of one with `% 624`, so the hot path has no modulo.
  #twist(): void {
    const mt = this.#state;
    let i = 0;
    for (; i < STATE_SIZE - SHIFT_SIZE; i++) {
      const y = (mt[i]! & UPPER_MASK) | (mt[i + 1]! & LOWER_MASK);
      mt[i] = mt[i + SHIFT_SIZE]! ^ (y >>> 1) ^ (-(y & 1) & MATRIX_A);
    }
    for (; i < STATE_SIZE - 1; i++) {
      const y = (mt[i]! & UPPER_MASK) | (mt[i + 1]! & LOWER_MASK);
      mt[i] = mt[i + SHIFT_SIZE - STATE_SIZE]! ^ (y >>> 1) ^ (-(y & 1) & MATRIX_A);
    }
    const y = (mt[STATE_SIZE - 1]! & UPPER_MASK) | (mt[0]! & LOWER_MASK);
    mt[STATE_SIZE - 1] = mt[SHIFT_SIZE - 1]! ^ (y >>> 1) ^ (-(y & 1) & MATRIX_A);
    this.#index = 0;
  }
}
