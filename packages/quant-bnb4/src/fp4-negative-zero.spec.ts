import { afterAll, describe, expect, it } from 'vitest';
import { dequantize4bit, dequantize4bitFloat32, dequantize4bitToHost } from './dequantize.js';
import { Bnb4Linear, bnb4StateDict, FP4_CODE, NF4_CODE } from './index.js';
import { dequantizationCode } from './tables.js';
import { useBackend, withExactBnb4 } from './test-support/tf.js';
import type { Bnb4Tensor } from './types.js';

// bitsandbytes' CUDA dequantization of FP4 code 8 (sign bit set, magnitude 0) gives -0.0 (it computes
// magnitude * sign * absmax), although the quant_map it serialises holds +0.0 there; seen in real FP4
// checkpoints as bf16 0x8000. A synthetic [2, 64] weight: block 0 holds codes 8, 0, 8, 9 repeated, block 1 code 8
// only, with absmax 0.5 and 2.

const SHAPE = [2, 64];
const PATTERN = [8, 0, 8, 9];

function fp4Tensor(dtype: 'float32' | 'bfloat16' | 'float16' = 'float32'): Bnb4Tensor {
  const nibbles = Array.from({ length: 128 }, (_, i) => (i < 64 ? PATTERN[i % 4]! : 8));
  const packed = Uint8Array.from({ length: 64 }, (_, k) => (nibbles[2 * k]! << 4) | nibbles[2 * k + 1]!);
  return {
    packed,
    storage: 'U8',
    state: {
      quantType: 'fp4',
      blocksize: 64,
      dtype,
      shape: SHAPE,
      code: FP4_CODE,
      absmax: new Float32Array([0.5, 2]),
      nested: null,
    },
  };
}

/** The bytes CUDA writes: code 8 -> -0.0, code 0 -> +0.0, code 9 -> -FP4[1] * absmax. */
function expectCudaSigns(values: ArrayLike<number>, where: string): void {
  for (let i = 0; i < 128; i++) {
    const code = i < 64 ? PATTERN[i % 4]! : 8;
    const v = values[i]!;
    if (code === 8) expect(Object.is(v, -0), `${where} [${i}] = ${v}, expected -0`).toBe(true);
    else if (code === 0) expect(Object.is(v, 0), `${where} [${i}] = ${v}, expected +0`).toBe(true);
    else expect(Math.abs(v - FP4_CODE[9]! * 0.5)).toBeLessThan(1e-5); // bf16 rounding at most
  }
}

describe('FP4 code 8 dequantizes to -0.0, as the CUDA kernel does', () => {
  afterAll(() => useBackend('cpu'));

  it('dequantizationCode flips only FP4 code 8, and only a stored +0.0', () => {
    const code = dequantizationCode('fp4', FP4_CODE);
    expect(Object.is(code[8], -0)).toBe(true);
    expect(Object.is(FP4_CODE[8], 0)).toBe(true); // the stored table is untouched
    for (let i = 0; i < 16; i++) if (i !== 8) expect(Object.is(code[i], FP4_CODE[i])).toBe(true);
    expect(dequantizationCode('nf4', NF4_CODE)).toBe(NF4_CODE);
    const custom = FP4_CODE.slice();
    custom[8] = 0.25;
    expect(dequantizationCode('fp4', custom)).toBe(custom);
  });

  it('in the TypeScript dequantization, float32 and rounded to bf16 / f16 (sign bit set: 0x8000)', () => {
    expectCudaSigns(dequantize4bitFloat32(fp4Tensor()), 'float32');
    expectCudaSigns(dequantize4bit(fp4Tensor('bfloat16')), 'bfloat16');
    for (const dtype of ['bfloat16', 'float16'] as const) {
      const host = dequantize4bitToHost(fp4Tensor(dtype));
      const bits = new Uint16Array(host.data.buffer, host.data.byteOffset, 128);
      expect(bits[0]).toBe(0x8000);
      expect(bits[1]).toBe(0x0000);
      expect(bits[64]).toBe(0x8000);
    }
  });

  it.each(['cpu', 'wasm'] as const)(
    'in Bnb4Linear.dequantize() on %s (both wasm kernels), while the state dict keeps the stored +0.0',
    async (backend) => {
      await useBackend(backend);
      const layer = Bnb4Linear.fromTensor(fp4Tensor());
      const check = (): void => {
        const w = layer.dequantize();
        expectCudaSigns(w.dataSync() as Float32Array, backend);
        w.dispose();
      };
      check();
      await withExactBnb4(check);
      const quantMap = layer.stateDict('').get('weight.quant_map')!;
      const written = bnb4StateDict(fp4Tensor(), '').get('weight.quant_map')!;
      expect(Array.from(quantMap.data)).toEqual(Array.from(written.data));
      expect(Array.from(quantMap.data.subarray(32, 36))).toEqual([0, 0, 0, 0]); // +0.0 at index 8
      layer.dispose();
    },
  );
});
