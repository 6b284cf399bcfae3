import { describe, expect, it } from 'vitest';
import { PyFloat, pythonJsonDumps } from './python-json.js';

// Expected strings were produced by CPython 3 (`json.dumps(obj, indent=2, sort_keys=True)`), the writer
// of PEFT's adapter_config.json. Float spelling itself is tested with @peft/core's pythonJsonFloat.
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

  it('writes floats as json.dumps does: 1e-05, 1e+16, NaN, Infinity, -Infinity (not repr spellings)', () => {
    const value = [
      1e-5,
      new PyFloat(1e16),
      new PyFloat(Number.NaN),
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
    ];
    expect(pythonJsonDumps(value)).toBe('[\n  1e-05,\n  1e+16,\n  NaN,\n  Infinity,\n  -Infinity\n]');
  });
});
