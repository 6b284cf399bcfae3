import { fromFloat32, toFloat32 } from '@peft/core';
import { describe, expect, it } from 'vitest';
import { dequantize4bit, dequantize4bitFloat32, effectiveAbsmax } from './dequantize.js';
import { float32Mean } from './double-quant.js';
import { quantize4bit } from './quantize.js';
import { mismatches } from './test-support/golden.js';
import { refMean, refQuantize } from './test-support/reference.js';
import { BNB4_BLOCKSIZES } from './types.js';

/** Deterministic pseudo-random normal-ish values with some exact zeros, ties and an all-zero block. */
function sample(n: number, seed: number, zeroBlock?: { start: number; length: number }): Float32Array {
  let s = seed;
  const rand = () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const r = rand();
    out[i] = r < 0.02 ? 0 : r < 0.03 ? 0.5 : (rand() + rand() + rand() - 1.5) * (0.01 + rand() * 3);
  }
  if (zeroBlock) out.fill(0, zeroBlock.start, zeroBlock.start + zeroBlock.length);
  return out;
}

function unpack(packed: Uint8Array, n: number): number[] {
  return Array.from({ length: n }, (_, i) => (i & 1 ? packed[i >> 1]! & 15 : packed[i >> 1]! >> 4));
}

describe('quantize4bit agrees with the slow reference on every blocksize, type and nesting', () => {
  const combos = BNB4_BLOCKSIZES.flatMap((blocksize) =>
    (['nf4', 'fp4'] as const).flatMap((quantType) =>
      [true, false].map((nested) => ({ blocksize, quantType, nested })),
    ),
  );
  it.each(combos)('$quantType blocksize $blocksize nested $nested', ({ blocksize, quantType, nested }) => {
    // Odd n, a partial last block, an all-zero block and (for small blocks) more than 256 blocks.
    const n = blocksize <= 64 ? blocksize * 300 + 7 : blocksize * 3 + 7;
    const values = sample(n, blocksize * 7 + (nested ? 1 : 0), { start: blocksize, length: blocksize });
    const q = quantize4bit(values, { quantType, blocksize, doubleQuant: nested });
    const ref = refQuantize(values, quantType, blocksize, nested);

    expect(unpack(q.packed, n)).toEqual(ref.codes);
    // The pad nibble of odd n is the code of 0 * inv (NF4 7, FP4 0).
    expect(q.packed[q.packed.length - 1]! & 15).toBe(quantType === 'nf4' ? 7 : 0);
    if (nested) {
      expect(Array.from(q.state.nested!.codes)).toEqual(ref.nested!.codes);
      expect(mismatches(q.state.nested!.absmax, ref.nested!.absmax)).toEqual([]);
      expect(q.state.nested!.offset).toBe(ref.nested!.offset);
    } else {
      expect(mismatches(q.state.absmax!, ref.absmax)).toEqual([]);
    }
    expect(mismatches(dequantize4bitFloat32(q), ref.dequantized)).toEqual([]);
  });
});

describe('statistics', () => {
  it('an all-zero block stores absmax 0, codes 0 and dequantizes to zeros (CUDA NaN path)', () => {
    const values = sample(128, 3, { start: 0, length: 64 });
    const q = quantize4bit(values, { doubleQuant: false });
    expect(q.state.absmax![0]).toBe(0);
    expect(Array.from(q.packed.subarray(0, 32))).toEqual(new Array(32).fill(0));
    const out = dequantize4bitFloat32(q);
    expect(Array.from(out.subarray(0, 64)).every((v) => v === 0)).toBe(true);
  });

  it('a single 4-bit block nests to code 0 with nested absmax 0 and recovers the absmax exactly', () => {
    const values = sample(64, 11);
    const q = quantize4bit(values);
    expect(q.state.nested!.codes[0]).toBe(0);
    expect(q.state.nested!.absmax[0]).toBe(0);
    expect(effectiveAbsmax(q.state)[0]).toBe(Math.max(...Array.from(values, Math.abs)));
  });

  it('float32Mean is the correctly rounded mean, even where a float64 running sum is not', () => {
    // 2^60 + 999 ones + 2^-60: a float64 running sum drops the 2^-60 (which can decide the last bit).
    const values = new Float32Array(1001).fill(1);
    values[0] = 2 ** 60;
    values[1] = 2 ** -60;
    expect(float32Mean(values)).toBe(refMean(values));
    const mixed = sample(5000, 99).map(Math.abs);
    expect(float32Mean(mixed)).toBe(refMean(mixed));
    const wide = new Float32Array([2 ** 100, 1, 2 ** -100, 3 * 2 ** 80, 2 ** -149]);
    expect(float32Mean(wide)).toBe(refMean(wide));
  });

  it('float16 input dequantizes to float16-rounded values', () => {
    const values = toFloat32(fromFloat32(sample(256, 5), [256], 'F16'));
    const q = quantize4bit(fromFloat32(values, [2, 128], 'F16'), { doubleQuant: false });
    expect(q.state.dtype).toBe('float16');
    const products = dequantize4bitFloat32(q);
    // Independent rounding: encode to IEEE half through @peft/core's writer and read it back.
    const rounded = toFloat32(fromFloat32(products, [256], 'F16'));
    expect(mismatches(dequantize4bit(q), rounded)).toEqual([]);
    expect(mismatches(products, rounded).length).toBeGreaterThan(0);
  });
});
