import { fromFloat32, hostTensor, type StateDict, stateDictSource } from '@peft/core';
import { describe, expect, it } from 'vitest';
import { Bnb4FormatError } from './errors.js';
import { Bnb4Linear } from './index.js';
import { quantize4bit } from './quantize.js';
import { bnb4StateDict, readBnb4Tensor } from './state-dict.js';

// A quant state whose sizes the kernels cannot take, or whose values would dequantize to ±Inf/NaN, is refused
// when it is read, with a Bnb4FormatError naming the state-dict key, before anything is allocated for it.

const PREFIX = 'model.layers.0.mlp.up_proj.';
const BLOB = `${PREFIX}weight.quant_state.bitsandbytes__nf4`;
const values = Float32Array.from({ length: 6 * 64 }, (_, i) => Math.sin(i * 0.37) * (1 + (i % 5)));

function dict(doubleQuant: boolean): StateDict {
  return bnb4StateDict(quantize4bit(values, { shape: [6, 64], doubleQuant }), PREFIX);
}

function editJson(d: StateDict, edit: (o: Record<string, unknown>) => void): StateDict {
  const o = JSON.parse(new TextDecoder().decode(d.get(BLOB)!.data)) as Record<string, unknown>;
  edit(o);
  const bytes = new TextEncoder().encode(JSON.stringify(o));
  d.set(BLOB, hostTensor('U8', [bytes.length], bytes));
  return d;
}

function setFloat(d: StateDict, key: string, index: number, value: number): StateDict {
  const t = d.get(key)!;
  const f = new Float32Array(t.data.slice().buffer);
  f[index] = value;
  d.set(key, fromFloat32(f, t.shape));
  return d;
}

async function expectRefused(d: StateDict, tensor: string, pattern: RegExp): Promise<void> {
  const err = await readBnb4Tensor(stateDictSource(d, 'model.safetensors'), PREFIX).catch((e: unknown) => e);
  expect(err, 'read should fail').toBeInstanceOf(Bnb4FormatError);
  expect((err as Bnb4FormatError).code).toBe('BNB4_FORMAT');
  expect((err as Bnb4FormatError).tensor).toBe(tensor);
  expect((err as Error).message).toMatch(pattern);
}

describe('readBnb4Tensor checks sizes against what the kernels support', () => {
  it.each([2147483648, 4294967296, 0, 255, 8192, 256.5, '256'])(
    'nested_blocksize %s (bitsandbytes writes 256)',
    async (nestedBlocksize) => {
      await expectRefused(
        editJson(dict(true), (o) => (o['nested_blocksize'] = nestedBlocksize)),
        BLOB,
        /nested_blocksize .* is not one of 64, 128, 256, 512, 1024, 2048, 4096/,
      );
    },
  );

  it('a shape whose element count is not a safe integer', async () => {
    await expectRefused(
      editJson(dict(true), (o) => (o['shape'] = [2 ** 40, 2 ** 20])),
      BLOB,
      /more elements than any tensor can hold/,
    );
  });

  it('a quant-state blob far larger than any real one, before reading it', async () => {
    const d = dict(true);
    const big = new Uint8Array(1 << 17).fill(32);
    d.set(BLOB, hostTensor('U8', [big.length], big));
    await expectRefused(d, BLOB, /131072 elements, more than the 65536/);
  });

  it('a tensor whose data disagrees with its listing', async () => {
    const d = dict(true);
    const source = stateDictSource(d, 'model.safetensors');
    const lying = {
      ...source,
      info: (key: string) =>
        key === `${PREFIX}weight.quant_map` ? { dtype: 'F32' as const, shape: [16] } : source.info(key),
      get: async (key: string) =>
        key === `${PREFIX}weight.quant_map` ? fromFloat32(new Float32Array(4), [4]) : source.get(key),
    };
    const err = await readBnb4Tensor(lying, PREFIX).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Bnb4FormatError);
    expect((err as Error).message).toMatch(/holds 16 bytes of F32, not the F32\[16\] listed/);
  });
});

describe('readBnb4Tensor refuses values that would dequantize to ±Inf or NaN, naming the tensor', () => {
  it.each([
    [
      'nested_offset 1e300 (infinite as float32)',
      (o: Record<string, unknown>) => (o['nested_offset'] = 1e300),
    ],
    ['nested_offset -1e39', (o: Record<string, unknown>) => (o['nested_offset'] = -1e39)],
  ])('%s', async (_name, edit) => {
    await expectRefused(editJson(dict(true), edit), BLOB, /nested_offset .* is not a finite float32/);
  });

  it('a finite nested_offset that makes a recovered block scale overflow', async () => {
    const d = editJson(dict(true), (o) => (o['nested_offset'] = 3.4e38));
    setFloat(d, `${PREFIX}weight.nested_absmax`, 0, 3e38);
    await expectRefused(d, BLOB, /nested_offset [\d.]+e\+38 makes the scale of block \d+ overflow float32/);
  });

  it.each([
    ['nested_absmax', Number.NaN, true],
    ['nested_absmax', Number.POSITIVE_INFINITY, true],
    ['nested_quant_map', Number.NaN, true],
    ['quant_map', Number.NEGATIVE_INFINITY, true],
    ['quant_map', Number.NaN, false],
    ['absmax', Number.NaN, false],
    ['absmax', Number.POSITIVE_INFINITY, false],
  ] as const)('%s holding %s (nested: %s)', async (tensor, value, nested) => {
    const key = `${PREFIX}weight.${tensor}`;
    const index = tensor === 'nested_absmax' ? 0 : 3; // one nested scale for these six blocks
    await expectRefused(
      setFloat(dict(nested), key, index, value),
      key,
      new RegExp(`holds (NaN|-?Infinity) at index ${index}`),
    );
  });

  it('scales times code levels that overflow float32', async () => {
    const d = setFloat(dict(false), `${PREFIX}weight.absmax`, 2, 1e30);
    setFloat(d, `${PREFIX}weight.quant_map`, 15, 1e10);
    await expectRefused(d, `${PREFIX}weight.absmax`, /overflows float32/);
  });

  it('Bnb4Linear built from such a state refuses it too, naming the tensor', () => {
    const q = quantize4bit(values, { shape: [6, 64], doubleQuant: true });
    const nested = { ...q.state.nested!, offset: Number.POSITIVE_INFINITY };
    expect(() => Bnb4Linear.fromTensor({ ...q, state: { ...q.state, nested } })).toThrow(
      /"weight.quant_state": nested_offset Infinity is not a finite float32/,
    );
    const big = { ...q.state.nested!, blocksize: 2 ** 31 };
    expect(() => Bnb4Linear.fromTensor({ ...q, state: { ...q.state, nested: big } })).toThrow(
      /nested blocksize 2147483648 is not one of/,
    );
  });
});
