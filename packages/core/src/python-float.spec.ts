import { describe, expect, it } from 'vitest';
import { pythonFloatRepr } from './python-float.js';
import { goldenCases, readFixture } from './test-support/golden.js';

function fromHex(hex: string): number {
  const bytes = Buffer.from(hex, 'hex');
  return new DataView(bytes.buffer, bytes.byteOffset, 8).getFloat64(0, false);
}

describe('pythonFloatRepr', () => {
  const { cases } = readFixture<{ cases: [string, string][] }>('python-float-repr.json');

  it(`matches Python's repr on ${cases.length} values (edges, float32 values, random bit patterns)`, () => {
    const wrong = cases.filter(([hex, repr]) => pythonFloatRepr(fromHex(hex)) !== repr);
    expect(wrong).toEqual([]);
  });

  it('uses exponent form below 1e-4 and from 1e16, as Python does', () => {
    expect(pythonFloatRepr(1.2345e-5)).toBe('1.2345e-05');
    expect(pythonFloatRepr(0.0001)).toBe('0.0001');
    expect(pythonFloatRepr(1e16)).toBe('1e+16');
    expect(pythonFloatRepr(1e15)).toBe('1000000000000000.0');
    expect(pythonFloatRepr(-2.5e-300)).toBe('-2.5e-300');
    expect(pythonFloatRepr(2)).toBe('2.0');
    expect(pythonFloatRepr(-0)).toBe('-0.0');
  });

  it('writes non-finite values as json.dumps does when asked', () => {
    expect(pythonFloatRepr(Number.NaN, { json: true })).toBe('NaN');
    expect(pythonFloatRepr(Number.NEGATIVE_INFINITY, { json: true })).toBe('-Infinity');
    expect(pythonFloatRepr(Number.POSITIVE_INFINITY)).toBe('inf');
  });

  it('reproduces every golden nested_offset text', () => {
    for (const golden of goldenCases()) {
      const match = /"nested_offset": ([^}]+)\}/.exec(golden.expected.quant_state_json);
      if (!match) continue;
      expect(pythonFloatRepr(golden.expected.offset!)).toBe(match[1]);
    }
  });
});
