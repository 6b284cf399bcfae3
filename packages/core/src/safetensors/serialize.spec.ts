import { describe, expect, it } from 'vitest';
import { bytesPerElement, DTYPES, type DType } from '../dtype.js';
import { SafetensorsError } from '../errors.js';
import {
  fromFloat32,
  fromIntegers,
  type HostTensor,
  hostTensor,
  type StateDict,
  toFloat32,
} from '../host-tensor.js';
import { compareCodePoints } from './layout.js';
import { parseSafetensors } from './parse.js';
import { serializeSafetensors } from './serialize.js';
import { concat, u64le } from './test-support/hand-built.js';

const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values);
const raw = (dtype: DType, shape: number[], ...values: number[]): HostTensor =>
  hostTensor(dtype, shape, bytes(...values));

/** A small dict in deliberately scrambled insertion order, one tensor of most dtypes. */
function mixedDict(): StateDict {
  return new Map<string, HostTensor>([
    ['b.u8', raw('U8', [3], 1, 2, 3)],
    ['a.f32', raw('F32', [2], 0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0)], // 1, -2
    ['flag', raw('BOOL', [2], 1, 0)],
    ['z.i64', raw('I64', [], 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)], // scalar -1
    ['bf', raw('BF16', [2, 1], 0x80, 0x3f, 0x00, 0xbf)], // 1, -0.5
    ['h', raw('F16', [1], 0x00, 0x3c)], // 1
    ['i8', raw('I8', [1], 0xff)],
    ['B.f32', raw('F32', [1], 0x00, 0x00, 0x00, 0x3f)], // 0.5; "B" sorts before "a"
  ]);
}

const mixedMetadata = new Map([
  ['format', 'pt'],
  ['zeta', '12'],
  ['alpha', 'x\ny"é'],
]);

describe('serializeSafetensors layout (as Python safetensors writes it)', () => {
  it('orders tensors by dtype (I64, F64, F32, I32, BF16, F16, I16, I8, U8, BOOL) then name, metadata first, header space-padded to 8', () => {
    const header =
      '{"__metadata__":{"format":"pt","zeta":"12","alpha":"x\\ny\\"é"},' +
      '"z.i64":{"dtype":"I64","shape":[],"data_offsets":[0,8]},' +
      '"B.f32":{"dtype":"F32","shape":[1],"data_offsets":[8,12]},' +
      '"a.f32":{"dtype":"F32","shape":[2],"data_offsets":[12,20]},' +
      '"bf":{"dtype":"BF16","shape":[2,1],"data_offsets":[20,24]},' +
      '"h":{"dtype":"F16","shape":[1],"data_offsets":[24,26]},' +
      '"i8":{"dtype":"I8","shape":[1],"data_offsets":[26,27]},' +
      '"b.u8":{"dtype":"U8","shape":[3],"data_offsets":[27,30]},' +
      '"flag":{"dtype":"BOOL","shape":[2],"data_offsets":[30,32]}}';
    // 521 bytes of JSON ("é" is two bytes) padded with 7 spaces to 528.
    const expected = concat(
      u64le(528),
      header,
      '       ',
      [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
      [0x00, 0x00, 0x00, 0x3f],
      [0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0],
      [0x80, 0x3f, 0x00, 0xbf],
      [0x00, 0x3c],
      [0xff],
      [1, 2, 3],
      [1, 0],
    );
    expect(serializeSafetensors(mixedDict(), mixedMetadata)).toEqual(expected);
  });

  it('places F64 between I64 and F32, and I32 and I16 where the reference dtype order puts them', () => {
    const dict: StateDict = new Map([
      ['s', raw('I16', [1], 7, 0)],
      ['d', raw('F64', [1], 0, 0, 0, 0, 0, 0, 0xf0, 0x3f)],
      ['f', raw('F32', [1], 0, 0, 0x80, 0x3f)],
      ['i', raw('I32', [1], 5, 0, 0, 0)],
      ['l', raw('I64', [1], 9, 0, 0, 0, 0, 0, 0, 0)],
    ]);
    expect(parseSafetensors(serializeSafetensors(dict)).keys()).toEqual(['l', 'd', 'f', 'i', 's']);
  });

  it('writes the reference bytes for a single F32 tensor (no metadata, no padding needed)', () => {
    const dict: StateDict = new Map([['attn.0', fromFloat32([0, 1, 2, 3, 4, 5], [1, 2, 3])]]);
    const expected = concat(
      u64le(64),
      '{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}',
      [0, 0, 0, 0, 0, 0, 0x80, 0x3f, 0, 0, 0, 0x40, 0, 0, 0x40, 0x40, 0, 0, 0x80, 0x40, 0, 0, 0xa0, 0x40],
    );
    expect(serializeSafetensors(dict)).toEqual(expected);
  });

  it('writes an empty dict as "{}" padded to 8 bytes, and empty metadata as an empty object', () => {
    expect(serializeSafetensors(new Map())).toEqual(concat(u64le(8), '{}      '));
    expect(serializeSafetensors(new Map(), {})).toEqual(concat(u64le(24), '{"__metadata__":{}}     '));
  });

  it('sorts names by code point (UTF-8 byte) order, not UTF-16 order', () => {
    const astral = '\u{1F600}'; // UTF-16 D83D DE00, code point U+1F600
    const bmp = '\uFF61'; // U+FF61: before U+1F600 by code point, after it by UTF-16 unit
    expect(compareCodePoints(bmp, astral)).toBeLessThan(0);
    expect(bmp < astral).toBe(false); // the naive order this must not use
    const dict: StateDict = new Map([
      [astral, raw('U8', [1], 1)],
      [bmp, raw('U8', [1], 2)],
      ['a', raw('U8', [1], 3)],
    ]);
    expect(parseSafetensors(serializeSafetensors(dict)).keys()).toEqual(['a', bmp, astral]);
  });

  it("keeps the state dict's order in header and data with order: 'insertion'", () => {
    const out = serializeSafetensors(mixedDict(), undefined, { order: 'insertion' });
    const source = parseSafetensors(out);
    expect(source.keys()).toEqual([...mixedDict().keys()]);
    expect(source.info('b.u8').dataOffsets).toEqual([0, 3]);
    expect(source.info('a.f32').dataOffsets).toEqual([3, 11]);
  });

  it('writes metadata in the order given: a Map exactly, a plain object in JS key order', () => {
    const fromMap = parseSafetensors(
      serializeSafetensors(
        new Map(),
        new Map([
          ['10', 'a'],
          ['2', 'b'],
          ['x', 'c'],
        ]),
      ),
    );
    expect([...(fromMap.metadata?.keys() ?? [])]).toEqual(['10', '2', 'x']);
    const fromRecord = parseSafetensors(serializeSafetensors(new Map(), { x: 'c', format: 'pt' }));
    expect([...(fromRecord.metadata?.entries() ?? [])]).toEqual([
      ['x', 'c'],
      ['format', 'pt'],
    ]);
  });
});

describe('round trips', () => {
  const floatValues = [0, -0, 1.5, -2.25, 65504, 1e-3, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY];

  it.each(DTYPES.map((d) => [d]))('%s: values, shape and bytes survive serialize -> parse', async (dtype) => {
    let tensor: HostTensor;
    if (dtype === 'F32' || dtype === 'F64' || dtype === 'F16' || dtype === 'BF16') {
      tensor = fromFloat32(floatValues, [2, 4], dtype);
    } else if (dtype === 'I64') {
      // Full 64-bit range as raw bytes: -2^63 and 2^63 - 1.
      tensor = raw('I64', [2], 0, 0, 0, 0, 0, 0, 0, 0x80, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f);
    } else {
      const ints = {
        I32: [-2147483648, 2147483647, 0],
        I16: [-32768, 32767, 1],
        I8: [-128, 127, 0],
      } as const;
      const values =
        dtype in ints ? ints[dtype as keyof typeof ints] : dtype === 'BOOL' ? [1, 0, 1] : [0, 255, 7];
      tensor = fromIntegers(values, [3], dtype);
    }
    const dict: StateDict = new Map([
      ['t', tensor],
      ['scalar', hostTensor(dtype, [], tensor.data.slice(0, bytesPerElement(dtype)))],
      ['empty', hostTensor(dtype, [0, 5], new Uint8Array(0))],
    ]);
    const source = parseSafetensors(serializeSafetensors(dict, { format: 'pt' }));
    const back = await source.readAll();
    for (const [name, original] of dict) {
      const read = back.get(name)!;
      expect(read.dtype).toBe(dtype);
      expect(read.shape).toEqual(original.shape);
      expect(read.data).toEqual(original.data);
    }
    if (dtype === 'F32' || dtype === 'F64') {
      expect([...toFloat32(back.get('t')!)]).toEqual(floatValues.map((v) => Math.fround(v)));
    }
    expect(source.metadata).toEqual(new Map([['format', 'pt']]));
  });

  it('rewrites a parsed file byte for byte, NaN payloads and metadata key order included', async () => {
    const nanBits = raw('F32', [2], 0x01, 0x00, 0xc0, 0x7f, 0x00, 0x00, 0xc0, 0xff); // NaN with payload, -NaN
    const dict = mixedDict().set('nan', nanBits);
    const metadata = new Map([
      ['zz', '1'],
      ['7', 'integer-like keys keep their place'],
      ['aa', ''],
    ]);
    const original = serializeSafetensors(dict, metadata);
    const parsed = parseSafetensors(original);
    const rewritten = serializeSafetensors(await parsed.readAll(), parsed.metadata);
    expect(rewritten).toEqual(original);
  });

  it('rewrites a file written in another order into the reference layout', async () => {
    const scrambled = serializeSafetensors(mixedDict(), mixedMetadata, { order: 'insertion' });
    const parsed = parseSafetensors(scrambled);
    expect(serializeSafetensors(await parsed.readAll(), parsed.metadata)).toEqual(
      serializeSafetensors(mixedDict(), mixedMetadata),
    );
  });
});

describe('serializeSafetensors rejects what it cannot write faithfully', () => {
  const cases: [string, StateDict, RegExp, string | undefined][] = [
    [
      'data shorter than the shape needs',
      new Map([['w', { dtype: 'F32', shape: [2, 2], data: new Uint8Array(12) }]]),
      /needs 16 bytes, got 12/,
      'w',
    ],
    [
      'a negative dimension',
      new Map([['w', { dtype: 'U8', shape: [-1], data: new Uint8Array(0) }]]),
      /non-negative integers/,
      'w',
    ],
    [
      'a fractional dimension',
      new Map([['w', { dtype: 'U8', shape: [1.5], data: new Uint8Array(0) }]]),
      /non-negative integers/,
      'w',
    ],
    [
      'an unknown dtype',
      new Map([['w', { dtype: 'U16' as DType, shape: [1], data: new Uint8Array(2) }]]),
      /unsupported dtype "U16"/,
      'w',
    ],
    [
      'the reserved name',
      new Map([['__metadata__', raw('U8', [1], 1)]]),
      /reserved for metadata/,
      '__metadata__',
    ],
    [
      'a lone surrogate in a name',
      new Map([['w\uD800', raw('U8', [1], 1)]]),
      /lone UTF-16 surrogate/,
      'w\uD800',
    ],
  ];
  it.each(cases)('%s', (_, dict, message, tensor) => {
    const error = catchError(() => serializeSafetensors(dict, undefined, { name: 'out.safetensors' }));
    expect(error).toBeInstanceOf(SafetensorsError);
    expect((error as SafetensorsError).message).toMatch(message);
    expect((error as SafetensorsError).file).toBe('out.safetensors');
    expect((error as SafetensorsError).tensor).toBe(tensor);
  });

  it('non-string metadata values and lone surrogates in metadata', () => {
    const notString = { format: 1 } as unknown as Record<string, string>;
    expect(() => serializeSafetensors(new Map(), notString)).toThrow(
      /__metadata__\["format"\] must be a string/,
    );
    expect(() => serializeSafetensors(new Map(), { k: '\uDC00' })).toThrow(SafetensorsError);
  });
});

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}
