import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import { mtStreamCases } from './test-support/golden.js';
import { TORCH_DEFAULT_SEED, TorchGenerator } from './torch-generator.js';

function draws(generator: TorchGenerator, count: number): number[] {
  return Array.from({ length: count }, () => generator.nextUint32());
}

/** Outputs [start, start + count) of the stream of a fresh generator. */
function window(seed: bigint | number, start: number, count: number): number[] {
  const generator = new TorchGenerator(seed);
  draws(generator, start);
  return draws(generator, count);
}

describe('TorchGenerator', () => {
  it('matches the spec vectors for seeds 0 and 65535', () => {
    expect(draws(new TorchGenerator(0), 4)).toEqual([2357136044, 2546248239, 3071714933, 3626093760]);
    expect(draws(new TorchGenerator(65535), 3)).toEqual([830396586, 4100689589, 1135755905]);
  });

  describe.each(mtStreamCases())('golden stream for seed $seed', (golden) => {
    const seed = BigInt(golden.seed);

    it('matches outputs 0..15, 620..631 (across the second twist) and 1000..1007', () => {
      expect(window(seed, 0, 16)).toEqual(golden.first16);
      expect(window(seed, 620, 12)).toEqual(golden.at620_631);
      expect(window(seed, 1000, 8)).toEqual(golden.at1000_1007);
    });

    it('gives the same stream for the seed as a number and for its low 32 bits', () => {
      expect(window(Number(seed), 0, 16)).toEqual(golden.first16);
      expect(window(golden.seed_u32, 1000, 8)).toEqual(golden.at1000_1007);
    });

    it('reports the uint64 bit pattern of the seed, as torch initial_seed() does', () => {
      expect(new TorchGenerator(seed).initialSeed()).toBe(BigInt.asUintN(64, seed));
    });
  });

  it('keeps only the low 32 bits of large and negative seeds', () => {
    expect(window(2n ** 32n + 7n, 0, 8)).toEqual(window(7, 0, 8));
    expect(window(-1, 0, 8)).toEqual(window(0xffffffff, 0, 8));
    expect(window(-(2n ** 63n), 0, 8)).toEqual(window(0, 0, 8));
    expect(window(2n ** 64n - 1n, 0, 8)).toEqual(window(0xffffffff, 0, 8));
    expect(new TorchGenerator(-12345).initialSeed()).toBe(2n ** 64n - 12345n);
  });

  it('starts from torch.Generator()’s default seed when none is given', () => {
    const generator = new TorchGenerator();
    expect(generator.initialSeed()).toBe(TORCH_DEFAULT_SEED);
    expect(draws(generator, 8)).toEqual(window(TORCH_DEFAULT_SEED, 0, 8));
  });

  it('restarts the stream on manualSeed and clones an independent copy mid-stream', () => {
    const generator = new TorchGenerator(42);
    draws(generator, 700);
    expect(draws(generator.manualSeed(42), 5)).toEqual(window(42, 0, 5));
    const copy = generator.clone();
    expect(draws(copy, 1000)).toEqual(draws(generator, 1000));
    expect(copy.initialSeed()).toBe(42n);
  });

  it.each([
    ['a fraction', 1.5],
    ['NaN', Number.NaN],
    ['a number beyond 2^53', 2 ** 60],
    ['a bigint above 2^64 - 1', 2n ** 64n],
    ['a bigint below -2^63', -(2n ** 63n) - 1n],
    ['a string', '7' as unknown as number],
  ])('rejects %s as a seed with a ConfigError naming it', (_label, seed) => {
    expect(() => new TorchGenerator(seed)).toThrow(ConfigError);
    expect(() => new TorchGenerator(seed)).toThrow(/seed/);
  });
});
