// The 4-bit kernels of @peft/backends against the golden bitsandbytes cases this package owns: the
// plain-array reference and the registered kernel of each Node backend reproduce bitsandbytes'
// dequantization from the stored arrays (packed bytes, absmax or its 8-bit codes, quant_map).
import {
  type Bnb4Arrays,
  bnb4Dequantize,
  bnb4DequantizeReference,
  bnb4WeightsFromArrays,
  disposeBnb4Weights,
} from '@peft/backends';
import { f16BitsToFloat, floatToF16Bits } from '@peft/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { DYNAMIC_MAP_SIGNED } from './tables.js';
import { bytesFromB64, f32FromB64, type GoldenCase, goldenCases, mismatches } from './test-support/golden.js';
import { useBackend } from './test-support/tf.js';

const cases = goldenCases();

function storedArrays(golden: GoldenCase): Bnb4Arrays {
  const { shape, blocksize, compress_statistics: nested } = golden.params;
  const [outFeatures, inFeatures] = shape.length === 2 ? [shape[0]!, shape[1]!] : [1, shape[0]!];
  const e = golden.expected;
  return {
    packed: bytesFromB64(e.packed_b64),
    absmax: nested ? Uint8Array.from(e.absmax_u8!) : Float32Array.from(e.absmax_blocks_f32),
    nestedAbsmax: nested ? Float32Array.from(e.nested_absmax!) : null,
    nestedCode: nested ? DYNAMIC_MAP_SIGNED : null,
    code: Float32Array.from(e.quant_map),
    outFeatures,
    inFeatures,
    blocksize,
    nestedBlocksize: e.nested_blocksize ?? 256,
    offset: nested ? e.offset! : 0,
  };
}

/** bitsandbytes casts the float32 product to the model dtype; the golden file holds that cast value. */
function asModelDType(values: Float32Array, golden: GoldenCase): Float32Array {
  if (golden.params.dtype !== 'float16') return values;
  return values.map((v) => f16BitsToFloat(floatToF16Bits(v)));
}

describe('@peft/backends 4-bit dequantization on the golden bitsandbytes cases', () => {
  it('has golden cases of every kind to check against', () => {
    expect(cases.length).toBeGreaterThanOrEqual(10);
    expect(new Set(cases.map((c) => c.params.quant_type))).toEqual(new Set(['nf4', 'fp4']));
    expect(cases.some((c) => c.params.compress_statistics)).toBe(true);
    expect(cases.some((c) => c.params.dtype === 'float16')).toBe(true);
  });

  it.each(cases.map((c) => [c.name, c] as const))('the reference reproduces %s', (_, golden) => {
    const expected = f32FromB64(golden.expected.dequantized_f32_b64);
    const actual = asModelDType(bnb4DequantizeReference(storedArrays(golden)), golden);
    expect(mismatches(actual, expected)).toEqual([]);
  });

  describe.each(['cpu', 'wasm'] as const)('the %s kernel', (backend) => {
    beforeAll(async () => {
      await useBackend(backend);
    });

    it.each(cases.map((c) => [c.name, c] as const))('reproduces %s', (_, golden) => {
      const arrays = storedArrays(golden);
      const weights = bnb4WeightsFromArrays(arrays);
      const out = bnb4Dequantize(weights);
      try {
        expect(out.shape).toEqual([arrays.outFeatures, arrays.inFeatures]);
        const actual = asModelDType(out.dataSync() as Float32Array, golden);
        expect(mismatches(actual, f32FromB64(golden.expected.dequantized_f32_b64))).toEqual([]);
      } finally {
        out.dispose();
        disposeBnb4Weights(weights);
      }
    });
  });
});
