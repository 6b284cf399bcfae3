import { describe, expect, it } from 'vitest';
import { SafetensorsError } from '../errors.js';
import { MissingTensorError } from '../tensor-source.js';
import { parseSafetensors } from './parse.js';
import { concat, fileWithHeader, u64le } from './test-support/hand-built.js';

const F32x2 = (begin: number) => ({ dtype: 'F32', shape: [2], data_offsets: [begin, begin + 8] });

function parseError(bytes: Uint8Array): SafetensorsError {
  try {
    parseSafetensors(bytes, 'bad.safetensors');
  } catch (error) {
    expect(error).toBeInstanceOf(SafetensorsError);
    expect((error as SafetensorsError).file).toBe('bad.safetensors');
    return error as SafetensorsError;
  }
  throw new Error('expected parseSafetensors to throw');
}

describe('parseSafetensors reads valid files', () => {
  it('lists tensors in header order with dtype, shape and offsets, and reads each one', async () => {
    const data = concat([0, 0, 0x80, 0x3f, 0, 0, 0, 0x40], [7, 8, 9]);
    const header = {
      __metadata__: { format: 'pt' },
      w: F32x2(0),
      b: { dtype: 'U8', shape: [3], data_offsets: [8, 11] },
    };
    const source = parseSafetensors(fileWithHeader(header, data), 'ok.safetensors');
    expect(source.name).toBe('ok.safetensors');
    expect(source.keys()).toEqual(['w', 'b']);
    expect(source.has('b')).toBe(true);
    expect(source.has('nope')).toBe(false);
    expect(source.info('b')).toEqual({ name: 'b', dtype: 'U8', shape: [3], dataOffsets: [8, 11] });
    expect(source.metadata).toEqual(new Map([['format', 'pt']]));
    expect((await source.get('b')).data).toEqual(Uint8Array.from([7, 8, 9]));
    expect((await source.get('w')).data).toEqual(data.subarray(0, 8));
    expect(() => source.info('nope')).toThrow(MissingTensorError);
    await expect(source.get('nope')).rejects.toThrow(MissingTensorError);
  });

  it('returns plain Uint8Arrays for a Node Buffer input', async () => {
    const file = Buffer.from(fileWithHeader({ b: { dtype: 'U8', shape: [1], data_offsets: [0, 1] } }, 1));
    const data = (await parseSafetensors(file).get('b')).data;
    expect(data.constructor).toBe(Uint8Array);
  });

  it('accepts an ArrayBuffer, and returns views into the input rather than copies', async () => {
    const file = fileWithHeader(
      { b: { dtype: 'U8', shape: [2], data_offsets: [0, 2] } },
      Uint8Array.from([1, 2]),
    );
    const source = parseSafetensors(file.buffer as ArrayBuffer);
    const tensor = await source.get('b');
    expect(tensor.data).toEqual(Uint8Array.from([1, 2]));
    expect(tensor.data.buffer).toBe(file.buffer);
  });

  it('accepts whitespace padding, header order unlike offset order, zero-size tensors sharing an offset, scalars and unknown entry fields', async () => {
    const header =
      '{"late":{"dtype":"I32","shape":[],"data_offsets":[2,6]},' +
      '"e1":{"dtype":"F32","shape":[0,4],"data_offsets":[2,2]},' +
      '"e2":{"dtype":"I64","shape":[3,0],"data_offsets":[2,2]},' +
      '"early":{"dtype":"BOOL","shape":[2],"data_offsets":[0,2],"extra":"ignored"}}\r \t\n';
    const source = parseSafetensors(fileWithHeader(header, concat([1, 0], [5, 0, 0, 0])));
    expect(source.keys()).toEqual(['late', 'e1', 'e2', 'early']);
    expect(source.metadata).toBeUndefined();
    expect((await source.get('late')).data).toEqual(Uint8Array.from([5, 0, 0, 0]));
    expect((await source.get('e2')).data.byteLength).toBe(0);
    expect(source.header.dataByteLength).toBe(6);
  });

  it('treats "__metadata__": null as no metadata, as the reference reader does', () => {
    expect(parseSafetensors(fileWithHeader('{"__metadata__":null}')).metadata).toBeUndefined();
  });

  it('keeps metadata keys in file order, integer-like keys included', () => {
    const source = parseSafetensors(fileWithHeader('{"__metadata__":{"b":"1","10":"2","2":"3","a":"4"}}'));
    expect([...(source.metadata?.keys() ?? [])]).toEqual(['b', '10', '2', 'a']);
  });

  it('reads a tensor named "__proto__" as data, not as a prototype', async () => {
    const source = parseSafetensors(
      fileWithHeader('{"__proto__":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', 1),
    );
    expect(source.keys()).toEqual(['__proto__']);
    expect((await source.get('__proto__')).shape).toEqual([1]);
  });

  it('reads after close are refused', async () => {
    const source = parseSafetensors(fileWithHeader({ w: F32x2(0) }, 8));
    await source.close();
    await source.close();
    await expect(source.get('w')).rejects.toThrow(/closed/);
  });
});

describe('parseSafetensors rejects malformed files with a SafetensorsError naming file and tensor', () => {
  const valid = { w: F32x2(0) };
  const cases: [string, Uint8Array, RegExp, string?][] = [
    ['fewer than 8 bytes', Uint8Array.from([1, 2, 3]), /3 bytes is too small/],
    [
      'a header length over the 100 MB cap',
      concat(u64le(100_000_001), '{}'),
      /exceeds the 100000000-byte limit/,
    ],
    ['a header length near 2^64', concat(u64le(0xffffffffffffffffn), '{}'), /exceeds/],
    ['a header length past the end of the file', fileWithHeader('{}', 0, 9), /runs past the end of the file/],
    ['an empty header', concat(u64le(0)), /does not start with "\{"/],
    ['a header that is not an object', fileWithHeader('[]'), /does not start with "\{"/],
    ['leading whitespace', fileWithHeader(' {}'), /does not start with "\{"/],
    ['invalid UTF-8', fileWithHeader(Uint8Array.from([0x7b, 0xff, 0x7d])), /not valid UTF-8/],
    ['invalid JSON', fileWithHeader('{"w":'), /not valid JSON/],
    ['an entry that is not an object', fileWithHeader({ w: [1] }), /entry is an array/, 'w'],
    [
      'a missing dtype',
      fileWithHeader({ w: { shape: [2], data_offsets: [0, 8] } }, 8),
      /dtype is missing/,
      'w',
    ],
    [
      'an unknown dtype',
      fileWithHeader({ w: { dtype: 'F8_E4M3', shape: [2], data_offsets: [0, 2] } }, 2),
      /unsupported dtype "F8_E4M3"/,
      'w',
    ],
    [
      'a dtype that is not a string',
      fileWithHeader({ w: { dtype: 4, shape: [1], data_offsets: [0, 4] } }, 4),
      /dtype is number 4/,
      'w',
    ],
    [
      'a shape that is not an array',
      fileWithHeader({ w: { ...F32x2(0), shape: 2 } }, 8),
      /shape is number/,
      'w',
    ],
    [
      'a negative dimension',
      fileWithHeader({ w: { ...F32x2(0), shape: [-2] } }, 8),
      /non-negative integers/,
      'w',
    ],
    ['a fractional dimension', fileWithHeader({ w: { ...F32x2(0), shape: [2.5] } }, 8), /non-negative/, 'w'],
    ['a string dimension', fileWithHeader({ w: { ...F32x2(0), shape: ['2'] } }, 8), /string "2"/, 'w'],
    [
      'a dimension beyond 2^53',
      fileWithHeader('{"w":{"dtype":"U8","shape":[18446744073709551615],"data_offsets":[0,1]}}', 1),
      /non-negative/,
      'w',
    ],
    [
      'a shape whose byte size overflows',
      fileWithHeader({ w: { dtype: 'F64', shape: [2 ** 30, 2 ** 30, 2 ** 30, 0], data_offsets: [0, 0] } }),
      /too large to address/,
      'w',
    ],
    [
      'data_offsets missing',
      fileWithHeader({ w: { dtype: 'F32', shape: [2] } }, 8),
      /data_offsets is missing/,
      'w',
    ],
    [
      'data_offsets with three numbers',
      fileWithHeader({ w: { ...F32x2(0), data_offsets: [0, 8, 8] } }, 8),
      /expected \[begin, end\]/,
      'w',
    ],
    [
      'negative data_offsets',
      fileWithHeader({ w: { ...F32x2(0), data_offsets: [-8, 0] } }, 8),
      /two non-negative integers/,
      'w',
    ],
    ['begin after end', fileWithHeader({ w: { ...F32x2(0), data_offsets: [8, 0] } }, 8), /begin after/, 'w'],
    [
      'offsets past the end of the data',
      fileWithHeader({ w: { ...F32x2(0), data_offsets: [0, 16] } }, 8),
      /past the end of the data section \(8 bytes\)/,
      'w',
    ],
    [
      'a size that disagrees with dtype and shape',
      fileWithHeader({ w: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, 8),
      /needs 12 bytes but data_offsets \[0, 8\] hold 8/,
      'w',
    ],
    [
      'overlapping tensors',
      fileWithHeader({ a: F32x2(0), b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, 8),
      /overlap tensor "a"/,
      'b',
    ],
    ['a gap between tensors', fileWithHeader({ a: F32x2(0), b: F32x2(12) }, 20), /leave bytes 8\.\.12/, 'b'],
    ['a gap at the start', fileWithHeader({ a: F32x2(4) }, 12), /leave bytes 0\.\.4/, 'a'],
    ['trailing bytes after the last tensor', fileWithHeader(valid, 9), /describes 8 bytes .* holds 9/],
    [
      'metadata that is not an object',
      fileWithHeader({ __metadata__: 'pt' }),
      /must be an object of strings/,
    ],
    ['a non-string metadata value', fileWithHeader({ __metadata__: { n: 1 } }), /\["n"\] is number 1/],
    [
      'a duplicate tensor name',
      fileWithHeader(`{"w":${JSON.stringify(F32x2(0))},"w":${JSON.stringify(F32x2(0))}}`, 8),
      /appears twice/,
      'w',
    ],
    [
      'a duplicate name spelled with an escape',
      fileWithHeader(`{"w":${JSON.stringify(F32x2(0))},"\\u0077":${JSON.stringify(F32x2(0))}}`, 8),
      /appears twice/,
      'w',
    ],
    [
      'a duplicate field inside an entry',
      fileWithHeader('{"w":{"dtype":"F32","dtype":"U8","shape":[2],"data_offsets":[0,8]}}', 8),
      /field "dtype" appears twice/,
      'w',
    ],
    [
      'a shape nested deeper than the stack',
      fileWithHeader(
        `{"w":{"dtype":"U8","shape":[${'['.repeat(200_000)}${']'.repeat(200_000)}],"data_offsets":[0,0]}}`,
      ),
      /shape \[\[\.\.\.\]\] has an array/,
      'w',
    ],
    [
      'data_offsets nested deeper than the stack',
      fileWithHeader(
        `{"w":{"dtype":"U8","shape":[0],"data_offsets":[0,${'['.repeat(200_000)}${']'.repeat(200_000)}]}}`,
      ),
      /data_offsets \[0,\[\.\.\.\]\] must be two/,
      'w',
    ],
    [
      'a duplicate metadata key',
      fileWithHeader('{"__metadata__":{"k":"a","k":"b"}}'),
      /field "k" appears twice/,
      '__metadata__',
    ],
  ];

  it.each(cases)('%s', (_, bytes, message, tensor) => {
    const error = parseError(bytes);
    expect(error.message).toMatch(message);
    expect(error.tensor).toBe(tensor);
    expect(error.code).toBe('SAFETENSORS_INVALID');
  });
});
