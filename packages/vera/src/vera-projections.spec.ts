import { createHash } from 'node:crypto';
import { ConfigError, ShapeMismatchError, TorchGenerator, type UniformMode } from '@peft/core';
import { describe, expect, it } from 'vitest';
import goldenFile from './fixtures/vera_projections.json' with { type: 'json' };
import { kaimingUniform, kaimingUniformBound } from './kaiming.js';
import { veraProjections } from './vera-projections.js';

interface VeraMatrixGolden {
  readonly shape: number[];
  readonly sha256_f32le: string;
  readonly first8_hex: string[];
  readonly last8_hex: string[];
  readonly sum_f64: number;
  readonly values_hex?: string[];
}

/** Float32 bit patterns as 8-digit lowercase hex, the form the golden file uses. */
function float32Hex(values: Float32Array): string[] {
  return Array.from(new Uint32Array(values.buffer, values.byteOffset, values.length), (bits) =>
    bits.toString(16).padStart(8, '0'),
  );
}

function float32HexOf(value: number): string {
  return float32Hex(new Float32Array([value]))[0]!;
}

/** Little-endian float32 bytes (the layout the golden sha256 digests cover), whatever the host's order. */
function float32LeBytes(values: Float32Array): Uint8Array {
  const bytes = new Uint8Array(values.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i]!, true);
  return bytes;
}

const MODES: readonly UniformMode[] = ['fma', 'nofma'];

function expectMatchesGolden(values: Float32Array, golden: VeraMatrixGolden): void {
  expect(values.length).toBe(golden.shape[0]! * golden.shape[1]!);
  const hex = float32Hex(values);
  expect(hex.slice(0, 8)).toEqual(golden.first8_hex);
  expect(hex.slice(-8)).toEqual(golden.last8_hex);
  if (golden.values_hex) expect(hex).toEqual(golden.values_hex);
  expect(createHash('sha256').update(float32LeBytes(values)).digest('hex')).toBe(golden.sha256_f32le);
  expect(values.reduce((sum, v) => sum + v, 0)).toBeCloseTo(golden.sum_f64, 9);
}

describe('veraProjections against PEFT golden projections (torch 1.13, both kernels)', () => {
  const cases = goldenFile.cases;

  it('includes a seed above 2^32, the default key 0 and a real-size case', () => {
    expect(cases.map((c) => c.seed)).toEqual(expect.arrayContaining(['0', '65535', '4294967303']));
    expect(cases.some((c) => c.r * c.max_in >= 100_000)).toBe(true);
  });

  describe.each(cases)('seed $seed, r $r, max_in $max_in, max_out $max_out', (golden) => {
    it.each(MODES)('regenerates A then B bit for bit in mode %s', (mode) => {
      const { A, B } = veraProjections({
        seed: BigInt(golden.seed),
        r: golden.r,
        maxIn: golden.max_in,
        maxOut: golden.max_out,
        mode,
      });
      expectMatchesGolden(A, golden[mode].A);
      expectMatchesGolden(B, golden[mode].B);
    });

    it('uses fan_in = max_in for A and fan_in = r for B, with the same double bounds as Python', () => {
      expect(kaimingUniformBound(golden.max_in)).toBe(golden.bound_A);
      expect(kaimingUniformBound(golden.r)).toBe(golden.bound_B);
      expect(float32HexOf(golden.bound_A)).toBe(golden.bound_A_f32_hex);
      expect(float32HexOf(golden.bound_B)).toBe(golden.bound_B_f32_hex);
    });
  });

  it('accepts the key as a number, as a bigint and as its low 32 bits alike', () => {
    const options = { r: 3, maxIn: 5, maxOut: 4 };
    const fromBig = veraProjections({ ...options, seed: 4294967303n });
    expect(veraProjections({ ...options, seed: 4294967303 })).toEqual(fromBig);
    expect(veraProjections({ ...options, seed: 7 })).toEqual(fromBig);
  });

  it('defaults to the fma mode', () => {
    const golden = cases.find((c) => c.r === 16)!;
    const { A } = veraProjections({
      seed: BigInt(golden.seed),
      r: golden.r,
      maxIn: golden.max_in,
      maxOut: 1,
    });
    expect(float32Hex(A)).toEqual(golden.fma.A.values_hex);
  });

  it.each([
    ['r', { r: 0 }],
    ['maxIn', { maxIn: 2.5 }],
    ['maxOut', { maxOut: -4 }],
  ])('rejects a non-positive or fractional %s with a ConfigError naming it', (name, bad) => {
    const call = () => veraProjections({ seed: 0, r: 4, maxIn: 8, maxOut: 8, ...bad });
    expect(call).toThrow(ConfigError);
    expect(call).toThrow(new RegExp(`${name} must be a positive integer`));
  });
});

describe('kaimingUniform', () => {
  it('draws row-major from the generator and leaves it just past the matrix', () => {
    const generator = new TorchGenerator(11);
    const first = kaimingUniform([3, 5], generator);
    const second = kaimingUniform([3, 5], generator);
    const bound = kaimingUniformBound(5);
    expect(first.every((v) => Math.abs(v) < bound)).toBe(true);
    // The second matrix starts at draw 15 of the same stream.
    const skipped = new TorchGenerator(11);
    for (let i = 0; i < 15; i++) skipped.nextUint32();
    expect(kaimingUniform([3, 5], skipped)).toEqual(second);
  });

  it('gives an empty matrix for zero rows without drawing', () => {
    const generator = new TorchGenerator(2);
    expect(kaimingUniform([0, 4], generator)).toHaveLength(0);
    expect(generator.nextUint32()).toBe(new TorchGenerator(2).nextUint32());
  });

  it.each([[[4, 0]], [[-1, 3]], [[2.5, 3]]] as const)(
    'rejects shape %j with a ShapeMismatchError',
    (shape) => {
      expect(() => kaimingUniform(shape, new TorchGenerator(0))).toThrow(ShapeMismatchError);
    },
  );
});
