import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { pythonFloatRepr, pythonJsonFloat } from './python-float.js';

// Expected strings come from CPython 3: `repr(x)` and `json.dumps(x)`.

function fromHex(hex: string): number {
  const bytes = Buffer.from(hex, 'hex');
  return new DataView(bytes.buffer, bytes.byteOffset, 8).getFloat64(0, false);
}

const { cases } = JSON.parse(
  readFileSync(new URL('./fixtures/python-float-repr.json', import.meta.url), 'utf8'),
) as { cases: [string, string][] };

// [value, repr(value), json.dumps(value)]
const TRICKY: [number, string, string][] = [
  [0, '0.0', '0.0'],
  [-0, '-0.0', '-0.0'],
  [0.1, '0.1', '0.1'],
  [2, '2.0', '2.0'],
  [1e-4, '0.0001', '0.0001'],
  [1e-5, '1e-05', '1e-05'],
  [1.2345e-5, '1.2345e-05', '1.2345e-05'],
  [1e15, '1000000000000000.0', '1000000000000000.0'],
  [2 ** 53, '9007199254740992.0', '9007199254740992.0'],
  [1e16, '1e+16', '1e+16'],
  [1.5e16, '1.5e+16', '1.5e+16'],
  [-2.5e-300, '-2.5e-300', '-2.5e-300'],
  [5e-324, '5e-324', '5e-324'],
  [1.7976931348623157e308, '1.7976931348623157e+308', '1.7976931348623157e+308'],
  [1 / 3, '0.3333333333333333', '0.3333333333333333'],
  [Number.NaN, 'nan', 'NaN'],
  [Number.POSITIVE_INFINITY, 'inf', 'Infinity'],
  [Number.NEGATIVE_INFINITY, '-inf', '-Infinity'],
];

describe('pythonFloatRepr', () => {
  it(`matches Python's repr on ${cases.length} values (edges, float32 values, random bit patterns)`, () => {
    const wrong = cases.filter(([hex, repr]) => pythonFloatRepr(fromHex(hex)) !== repr);
    expect(wrong).toEqual([]);
  });

  it.each(TRICKY)('repr(%s) is %s', (value, repr) => {
    expect(pythonFloatRepr(value)).toBe(repr);
  });
});

describe('pythonJsonFloat', () => {
  it.each(TRICKY)('json.dumps(%s) is %s / %s', (value, _repr, json) => {
    expect(pythonJsonFloat(value)).toBe(json);
  });

  it('equals repr on every finite fixture value', () => {
    const wrong = cases.filter(([hex]) => pythonJsonFloat(fromHex(hex)) !== pythonFloatRepr(fromHex(hex)));
    expect(wrong).toEqual([]);
  });
});
