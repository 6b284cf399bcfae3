import { ConfigError } from '../errors.js';
import { roundSumToFloat32 } from './float32-rounding.js';
import type { TorchGenerator } from './torch-generator.js';

export interface NormalOptions {
  /** Default 0. */
  readonly mean?: number;
  /** Default 1; must be >= 0. */
  readonly std?: number;
}

const BLOCK = 16;
const HALF_BLOCK = BLOCK / 2;
const TWO_POW_MINUS_24 = 2 ** -24;

/** `count` float32 uniforms in [0, 1) from the low 24 bits of each draw, as torch's `uniform_(0, 1)`. */
function fillUniform(data: Float32Array, start: number, count: number, generator: TorchGenerator): void {
  for (let i = start; i < start + count; i++)
    data[i] = (generator.nextUint32() & 0xffffff) * TWO_POW_MINUS_24;
}

/**
 * Box–Muller over one block of 16 uniforms, pairing element j with j + 8, with the float32
 * roundings of torch's portable `normal_fill_16`. The transcendental functions are JavaScript's,
 * rounded once to float32, so the last bit can differ from the C library torch links.
 */
function boxMuller16(data: Float32Array, offset: number, mean32: number, std32: number): void {
  for (let j = offset; j < offset + HALF_BLOCK; j++) {
    const u1 = 1 - data[j]!; // [0, 1) -> (0, 1] for the log; exact in float32
    const u2 = data[j + HALF_BLOCK]!;
    const radius = Math.fround(Math.sqrt(Math.fround(-2 * Math.fround(Math.log(u1)))));
    const theta = Math.fround(2 * Math.PI * u2);
    const cos = Math.fround(Math.cos(theta));
    const sin = Math.fround(Math.sin(theta));
    data[j] = roundSumToFloat32(Math.fround(Math.fround(radius * cos) * std32), mean32);
    data[j + HALF_BLOCK] = roundSumToFloat32(Math.fround(Math.fround(radius * sin) * std32), mean32);
  }
}

/**
 * `n` seeded normal float32 samples (mean 0, std 1 unless given), for LoRA's "gaussian" init and
 * similar uses. Deterministic for a given generator state and NOT bit-identical to torch's
 * `normal_`: it follows the stream layout of torch's float32 CPU kernel for n >= 16 (n uniforms,
 * Box–Muller in blocks of 16, the last 16 recomputed from 16 fresh draws when 16 does not divide n),
 * but the log/sin/cos values can differ in the last bit, and torch's AVX2 kernel uses polynomial
 * approximations of them. For n < 16 torch takes a float64 path; here one block of 16 draws is
 * used and its first n values returned. See docs/formats/torch-random.md.
 */
export function randn(n: number, generator: TorchGenerator, options: NormalOptions = {}): Float32Array {
  const mean = options.mean ?? 0;
  const std = options.std ?? 1;
  if (!Number.isSafeInteger(n) || n < 0)
    throw new ConfigError(`randn: n must be a non-negative integer, got ${n}`);
  if (!Number.isFinite(mean)) throw new ConfigError(`randn: mean must be finite, got ${mean}`);
  if (!(std >= 0) || !Number.isFinite(std))
    throw new ConfigError(`randn: std must be finite and >= 0, got ${std}`);
  const mean32 = Math.fround(mean);
  const std32 = Math.fround(std);
  if (n === 0) return new Float32Array(0);
  if (n < BLOCK) {
    const block = new Float32Array(BLOCK);
    fillUniform(block, 0, BLOCK, generator);
    boxMuller16(block, 0, mean32, std32);
    return block.slice(0, n);
  }
  const out = new Float32Array(n);
  fillUniform(out, 0, n, generator);
  for (let i = 0; i + BLOCK <= n; i += BLOCK) boxMuller16(out, i, mean32, std32);
  if (n % BLOCK !== 0) {
    fillUniform(out, n - BLOCK, BLOCK, generator);
    boxMuller16(out, n - BLOCK, mean32, std32);
  }
  return out;
}
