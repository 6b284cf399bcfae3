import { describe, expect, it } from 'vitest';
import { PyFloat, pythonFloatRepr, pythonJsonDumps } from './python-json.js';

// Expected strings were produced by CPython 3 (`repr(float)` and
// `json.dumps(obj, indent=2, sort_keys=True)`), the writer of PEFT's adapter_config.json.
describe('pythonFloatRepr', () => {
  const cases: [number, string][] = [
    [0, '0.0'],
    [-0, '-0.0'],
    [0.1, '0.1'],
    [1, '1.0'],
    [1e-4, '0.0001'],
    [1e-5, '1e-05'],
    [0.00012345, '0.00012345'],
    [123456789, '123456789.0'],
    [1e15, '1000000000000000.0'],
    [1e16, '1e+16'],
    [1.5e16, '1.5e+16'],
    [1e21, '1e+21'],
    [1e-7, '1e-07'],
    [2.5e-10, '2.5e-10'],
    [2.71, '2.71'],
    [1 / 3, '0.3333333333333333'],
    [-2.5, '-2.5'],
    [100, '100.0'],
    [1e300, '1e+300'],
    [5e-324, '5e-324'],
  ];
  it.each(cases)('repr(%s) = %s', (value, expected) => {
    expect(pythonFloatRepr(value)).toBe(expected);
  });
});

describe('pythonJsonDumps', () => {
  it("writes another installed copy's PyFloat as a float too (configs cross copies of the bridge)", () => {
    // What a second copy's `new PyFloat(0)` looks like from here: a different class with the same brand.
    const foreign = { [Symbol.for('@peft/adapter-bridge/PyFloat')]: true, value: 0 } as unknown as PyFloat;
    expect(foreign instanceof PyFloat).toBe(true);
    expect(pythonJsonDumps({ vera_dropout: foreign })).toBe('{\n  "vera_dropout": 0.0\n}');
    expect({ value: 0 } instanceof PyFloat).toBe(false);
  });

  it('matches json.dumps(indent=2, sort_keys=True) byte for byte', () => {
    const value = {
      b: [1, { z: [], a: {} }],
      a: 'é☃\n"x\\',
      c: new PyFloat(0),
      d: [new PyFloat(0.5)],
      '😀': 1,
      ascii: 'ok\u007f\u0001',
    };
    const expected = [
      '{',
      '  "a": "\\u00e9\\u2603\\n\\"x\\\\",',
      '  "ascii": "ok\\u007f\\u0001",',
      '  "b": [',
      '    1,',
      '    {',
      '      "a": {},',
      '      "z": []',
      '    }',
      '  ],',
      '  "c": 0.0,',
      '  "d": [',
      '    0.5',
      '  ],',
      '  "\\ud83d\\ude00": 1',
      '}',
    ].join('\n');
    expect(pythonJsonDumps(value)).toBe(expected);
  });

  it('writes integers as integers and non-integral numbers as Python floats', () => {
    expect(pythonJsonDumps([8, 16.5, null, true, false])).toBe(
      '[\n  8,\n  16.5,\n  null,\n  true,\n  false\n]',
    );
  });
});
