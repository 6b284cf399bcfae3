import { fromFloat32, toFloat32 } from '@peft/core';
import { describe, expect, it } from 'vitest';
import { dequantize4bit, effectiveAbsmax } from './dequantize.js';
import { quantStateJsonText } from './quant-state-json.js';
import { quantize4bit } from './quantize.js';
import { bitsOf, bytesFromB64, f32FromB64, goldenCases, mismatches } from './test-support/golden.js';

const cases = goldenCases();

describe('quantize4bit on the bitsandbytes golden cases (CUDA semantics)', () => {
  it('covers all twelve golden cases', () => {
    expect(cases.map((c) => c.name)).toHaveLength(12);
  });

  describe.each(cases.map((c) => [c.name, c] as const))('%s', (_name, golden) => {
    const { params, expected } = golden;
    const values = f32FromB64(golden.input.f32_le_b64);
    // fp16 inputs go in as real F16 host tensors (exact in f32, so the golden f32 bytes are the same values).
    const input =
      params.dtype === 'float32'
        ? values
        : fromFloat32(values, params.shape, params.dtype === 'float16' ? 'F16' : 'BF16');
    const q = quantize4bit(input, {
      quantType: params.quant_type,
      blocksize: params.blocksize,
      doubleQuant: params.compress_statistics,
      shape: params.shape,
    });

    it('packs the same nibbles, byte for byte', () => {
      expect(Buffer.from(q.packed).toString('base64')).toBe(expected.packed_b64);
      expect(q.packed.length).toBe(expected.weight_tensor_shape[0]);
    });

    it('records the logical shape, dtype and code table', () => {
      expect(q.state.shape).toEqual(params.shape);
      expect(q.state.dtype).toBe(params.dtype);
      expect(bitsOf(q.state.code)).toEqual(bitsOf(expected.quant_map));
    });

    it('stores the same statistics', () => {
      if (params.compress_statistics) {
        expect(q.state.absmax).toBeNull();
        const nested = q.state.nested!;
        expect(Array.from(nested.codes)).toEqual(expected.absmax_u8);
        expect(bitsOf(nested.absmax)).toEqual(bitsOf(expected.nested_absmax!));
        expect(bitsOf([nested.offset])).toEqual(bitsOf([expected.offset!]));
        expect(nested.blocksize).toBe(256);
      } else {
        expect(q.state.nested).toBeNull();
        expect(bitsOf(q.state.absmax!)).toEqual(bitsOf(expected.absmax!));
      }
      expect(bitsOf(effectiveAbsmax(q.state))).toEqual(bitsOf(expected.effective_absmax));
    });

    it('dequantizes to the same values (-0 == +0)', () => {
      const out = dequantize4bit(q);
      expect(mismatches(out, f32FromB64(expected.dequantized_f32_b64))).toEqual([]);
    });

    it('writes the same quant_state JSON', () => {
      const s = q.state;
      const json = quantStateJsonText({
        quantType: s.quantType,
        blocksize: s.blocksize,
        dtype: s.dtype,
        shape: s.shape,
        nested: s.nested
          ? { blocksize: s.nested.blocksize, dtype: 'float32', offset: s.nested.offset }
          : null,
      });
      expect(json).toBe(expected.quant_state_json);
    });

    if (expected.codes) {
      it('encodes each element to the expected code', () => {
        const codes = expected.codes!;
        const packed = bytesFromB64(expected.packed_b64);
        for (let i = 0; i < codes.length; i++) {
          const byte = packed[i >> 1]!;
          expect(i & 1 ? byte & 15 : byte >> 4).toBe(codes[i]);
        }
      });
    }
  });
});

describe('quantize4bit inputs', () => {
  const golden = cases.find((c) => c.name === 'nf4_fp16_dq_6x64')!;
  const values = f32FromB64(golden.input.f32_le_b64);

  it('a Float32Array with dtype "float16" quantizes like the F16 host tensor', () => {
    const fromArray = quantize4bit(values, { shape: [6, 64], dtype: 'float16' });
    const fromHost = quantize4bit(fromFloat32(values, [6, 64], 'F16'));
    expect(fromArray.packed).toEqual(fromHost.packed);
    expect(fromArray.state).toEqual(fromHost.state);
  });

  it('bf16 input: quantizes the exact float values and dequantizes to bf16-rounded values', () => {
    const host = fromFloat32(values, [6, 64], 'BF16');
    const exact = toFloat32(host);
    const q = quantize4bit(host, { doubleQuant: false });
    const viaF32 = quantize4bit(exact, { shape: [6, 64], doubleQuant: false });
    expect(q.packed).toEqual(viaF32.packed);
    expect(q.state.dtype).toBe('bfloat16');
    const out = dequantize4bit(q);
    const products = dequantize4bit(viaF32);
    const bits = new Uint32Array(out.buffer);
    for (let i = 0; i < out.length; i++) {
      // bf16 values are float32 values whose low 16 bits are zero, and within half a bf16 ulp of the product
      expect(bits[i]! & 0xffff).toBe(0);
      expect(Math.abs(out[i]! - products[i]!)).toBeLessThanOrEqual(Math.abs(products[i]!) * 2 ** -8);
    }
  });

  it('uses 64 and double quantization by default', () => {
    const q = quantize4bit(new Float32Array(128).fill(0.5));
    expect(q.state.blocksize).toBe(64);
    expect(q.state.quantType).toBe('nf4');
    expect(q.state.nested).not.toBeNull();
  });
});
