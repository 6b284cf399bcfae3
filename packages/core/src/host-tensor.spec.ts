import { describe, expect, it } from 'vitest';
import { bf16BitsToFloat, f16BitsToFloat } from './half.js';
import { fromFloat32, fromIntegers, hostTensor, toFloat32 } from './host-tensor.js';

function bitsOf(values: Float32Array): Uint32Array {
  return new Uint32Array(values.buffer, values.byteOffset, values.length);
}

describe('toFloat32', () => {
  const all16 = new Uint8Array(65536 * 2);
  for (let bits = 0; bits < 65536; bits++) {
    all16[2 * bits] = bits & 0xff;
    all16[2 * bits + 1] = bits >> 8;
  }

  it('decodes every bfloat16 bit pattern exactly, NaN payloads included', () => {
    const got = bitsOf(toFloat32(hostTensor('BF16', [65536], all16)));
    for (let bits = 0; bits < 65536; bits++) expect(got[bits]).toBe((bits << 16) >>> 0);
    expect(toFloat32(hostTensor('BF16', [1], new Uint8Array([0x80, 0x3f])))[0]).toBe(bf16BitsToFloat(0x3f80));
  });

  it('decodes every float16 bit pattern like the scalar reference', () => {
    const got = toFloat32(hostTensor('F16', [65536], all16));
    for (let bits = 0; bits < 65536; bits++) {
      const expected = f16BitsToFloat(bits);
      if (Number.isNaN(expected)) expect(Number.isNaN(got[bits])).toBe(true);
      else expect(Object.is(got[bits], Math.fround(expected))).toBe(true);
    }
  });

  it('keeps float32 bits from an unaligned view', () => {
    const backing = new Uint8Array(4 * 1000 + 1);
    for (let i = 0; i < backing.length; i++) backing[i] = (i * 37 + 11) & 0xff;
    const view = backing.subarray(1);
    const got = bitsOf(toFloat32(hostTensor('F32', [1000], view)));
    const dv = new DataView(view.buffer, view.byteOffset, view.byteLength);
    for (let i = 0; i < 1000; i++) expect(got[i]).toBe(dv.getUint32(4 * i, true));
  });

  it('converts integer and F64 tensors by value', () => {
    expect(Array.from(toFloat32(fromIntegers([-3, 0, 7], [3], 'I64')))).toEqual([-3, 0, 7]);
    expect(Array.from(toFloat32(fromIntegers([200, 1], [2], 'U8')))).toEqual([200, 1]);
    expect(Array.from(toFloat32(fromIntegers([-128, 5], [2], 'I8')))).toEqual([-128, 5]);
    expect(Array.from(toFloat32(fromFloat32([0.1, -2], [2], 'F64')))).toEqual([Math.fround(0.1), -2]);
  });

  it('round-trips float16 and bfloat16 encodings with round-to-nearest-even', () => {
    expect(Array.from(toFloat32(fromFloat32([1 + 2 ** -11, 1 + 3 * 2 ** -11], [2], 'F16')))).toEqual([
      1,
      1 + 2 ** -9,
    ]);
    expect(Array.from(toFloat32(fromFloat32([1 + 2 ** -8, 65520], [2], 'BF16')))).toEqual([1, 65536]);
  });
});
