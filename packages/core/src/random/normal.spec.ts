import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import { randn } from './normal.js';
import { TorchGenerator } from './torch-generator.js';

/** Uniforms in [0, 1) from draws [start, start + count) of a fresh generator's stream. */
function uniforms(seed: number, start: number, count: number): number[] {
  const generator = new TorchGenerator(seed);
  for (let i = 0; i < start; i++) generator.nextUint32();
  return Array.from({ length: count }, () => (generator.nextUint32() & 0xffffff) / 2 ** 24);
}

/** Draw number `index` (0-based) of a fresh generator's stream. */
function drawAt(seed: number, index: number): number {
  const generator = new TorchGenerator(seed);
  for (let i = 0; i < index; i++) generator.nextUint32();
  return generator.nextUint32();
}

/** Plain double-precision Box–Muller over a block of 16 uniforms: element j pairs with j + 8. */
function referenceBlock(u: number[]): number[] {
  const out = new Array<number>(16);
  for (let j = 0; j < 8; j++) {
    const radius = Math.sqrt(-2 * Math.log(1 - u[j]!));
    const theta = 2 * Math.PI * u[j + 8]!;
    out[j] = radius * Math.cos(theta);
    out[j + 8] = radius * Math.sin(theta);
  }
  return out;
}

function expectClose(got: ArrayLike<number>, expected: number[]): void {
  expect(got.length).toBe(expected.length);
  // Float32 intermediates as in torch's kernel: a few float32 ulps of a value of size up to ~6.
  expected.forEach((e, i) => {
    expect(Math.abs(got[i]! - e)).toBeLessThan(4e-6 * Math.max(1, Math.abs(e)));
  });
}

describe('randn', () => {
  it('is Box–Muller over consecutive blocks of 16 draws when 16 divides n', () => {
    const got = randn(32, new TorchGenerator(9));
    expectClose(got, [...referenceBlock(uniforms(9, 0, 16)), ...referenceBlock(uniforms(9, 16, 16))]);
  });

  it('recomputes the last 16 values from 16 fresh draws when 16 does not divide n, as torch does', () => {
    // n = 20: draws 0..19 fill the tensor, block [0, 16) is transformed, then [4, 20) is refilled
    // from draws 20..35 and transformed; draws 16..19 are consumed but unused.
    const got = randn(20, new TorchGenerator(9));
    const head = referenceBlock(uniforms(9, 0, 16)).slice(0, 4);
    const tail = referenceBlock(uniforms(9, 20, 16));
    expectClose(got, [...head, ...tail]);
  });

  it.each([
    [5, 16],
    [16, 16],
    [20, 36],
    [1000, 1016],
  ])('for n = %i leaves the generator %i draws further on', (n, consumed) => {
    const generator = new TorchGenerator(3);
    randn(n, generator);
    expect(generator.nextUint32()).toBe(drawAt(3, consumed));
  });

  it('uses the first n values of one block of 16 for n < 16', () => {
    expectClose(randn(5, new TorchGenerator(4)), referenceBlock(uniforms(4, 0, 16)).slice(0, 5));
  });

  it('is deterministic for a seed and differs between seeds', () => {
    expect(randn(100, new TorchGenerator(1))).toEqual(randn(100, new TorchGenerator(1)));
    expect(randn(100, new TorchGenerator(1))).not.toEqual(randn(100, new TorchGenerator(2)));
  });

  it('has the moments and the ±1σ mass of a normal distribution, scaled by mean and std', () => {
    const n = 200_000;
    const standard = randn(n, new TorchGenerator(2024));
    const mean = standard.reduce((s, v) => s + v, 0) / n;
    const variance = standard.reduce((s, v) => s + (v - mean) ** 2, 0) / n;
    const withinOne = standard.reduce((c, v) => c + (Math.abs(v) < 1 ? 1 : 0), 0) / n;
    // Five standard errors: mean 1/sqrt(n), variance sqrt(2/n), a proportion sqrt(p(1-p)/n).
    expect(Math.abs(mean)).toBeLessThan(5 / Math.sqrt(n));
    expect(Math.abs(variance - 1)).toBeLessThan(5 * Math.sqrt(2 / n));
    expect(Math.abs(withinOne - 0.682689)).toBeLessThan(5 * Math.sqrt((0.6827 * 0.3173) / n));

    const scaled = randn(n, new TorchGenerator(2024), { mean: 3, std: 0.25 });
    scaled.forEach((v, i) => {
      if (Math.abs(v - (3 + 0.25 * standard[i]!)) > 1e-6) expect.unreachable(`element ${i}`);
    });
  });

  it('returns an empty array for n = 0 without drawing', () => {
    const generator = new TorchGenerator(8);
    expect(randn(0, generator)).toHaveLength(0);
    expect(generator.nextUint32()).toBe(new TorchGenerator(8).nextUint32());
  });

  it.each([
    ['n', () => randn(-1, new TorchGenerator(0))],
    ['n', () => randn(2.5, new TorchGenerator(0))],
    ['std', () => randn(4, new TorchGenerator(0), { std: -1 })],
    ['std', () => randn(4, new TorchGenerator(0), { std: Number.NaN })],
    ['mean', () => randn(4, new TorchGenerator(0), { mean: Number.POSITIVE_INFINITY })],
  ])('rejects a bad %s with a ConfigError', (name, call) => {
    expect(call).toThrow(ConfigError);
    expect(call).toThrow(new RegExp(`randn: ${name}`));
  });
});
