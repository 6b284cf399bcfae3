import { createHash } from 'node:crypto';
import {
  ConfigError,
  fromFloat32,
  type HostTensor,
  hostTensor,
  NonFiniteWeightError,
  type StateDict,
  stateDictSource,
} from '@peft/core';
import { describe, expect, it } from 'vitest';
import { Bnb4FormatError } from './errors.js';
import { quantize4bit } from './quantize.js';
import { bnb4StateDict, hasBnb4QuantState, readBnb4Tensor } from './state-dict.js';
import { bytesFromB64, f32FromB64, goldenCases } from './test-support/golden.js';

const PREFIX = 'model.layers.0.mlp.up_proj.';
const cases = goldenCases();

function quantizeGolden(name: string) {
  const golden = cases.find((c) => c.name === name)!;
  const p = golden.params;
  const q = quantize4bit(f32FromB64(golden.input.f32_le_b64), {
    quantType: p.quant_type,
    blocksize: p.blocksize,
    doubleQuant: p.compress_statistics,
    shape: p.shape,
    dtype: p.dtype,
  });
  return { golden, q };
}

const f32Bytes = (values: readonly number[]) => new Uint8Array(Float32Array.from(values).buffer);

describe('bnb4StateDict reproduces the golden state_dict entries', () => {
  it.each(cases.map((c) => c.name))('%s', (name) => {
    const { golden, q } = quantizeGolden(name);
    const dict = bnb4StateDict(q, PREFIX);
    const expected = golden.expected.state_dict;
    expect([...dict.keys()]).toEqual(Object.keys(expected).map((k) => PREFIX + k));
    for (const [key, meta] of Object.entries(expected)) {
      const t = dict.get(PREFIX + key)!;
      expect({ key, dtype: t.dtype, shape: t.shape }).toEqual({ key, dtype: meta.dtype, shape: meta.shape });
    }
    const e = golden.expected;
    expect(dict.get(`${PREFIX}weight`)!.data).toEqual(bytesFromB64(e.packed_b64));
    expect(dict.get(`${PREFIX}weight.quant_map`)!.data).toEqual(f32Bytes(e.quant_map));
    const absmax = dict.get(`${PREFIX}weight.absmax`)!.data;
    if (golden.params.compress_statistics) {
      expect(Array.from(absmax)).toEqual(e.absmax_u8);
      expect(dict.get(`${PREFIX}weight.nested_absmax`)!.data).toEqual(f32Bytes(e.nested_absmax!));
      const map = dict.get(`${PREFIX}weight.nested_quant_map`)!.data;
      expect(createHash('sha256').update(map).digest('hex')).toBe(
        'e732639a65f497b4ad684bb166a4467708255edd5207757de8b8f0c7e1fda89c',
      );
    } else {
      expect(absmax).toEqual(f32Bytes(e.absmax!));
    }
    const blobKey = `${PREFIX}weight.quant_state.bitsandbytes__${golden.params.quant_type}`;
    expect(new TextDecoder().decode(dict.get(blobKey)!.data)).toBe(e.quant_state_json);
  });
});

describe('readBnb4Tensor -> bnb4StateDict round trip', () => {
  it.each(cases.map((c) => c.name))(
    '%s is byte-identical (with a bias, placed after weight as Linear4bit saves it)',
    async (name) => {
      const { q, golden } = quantizeGolden(name);
      const out = golden.params.shape[0]!;
      const bias = fromFloat32(
        Float32Array.from({ length: out }, (_, i) => i / 7),
        [out],
        'F16',
      );
      const original = bnb4StateDict(q, PREFIX, bias);
      expect([...original.keys()].slice(0, 2)).toEqual([`${PREFIX}weight`, `${PREFIX}bias`]);
      const read = await readBnb4Tensor(stateDictSource(original, 'golden.safetensors'), PREFIX);
      const again = bnb4StateDict(read.tensor, PREFIX, read.bias);
      expect([...again.keys()]).toEqual([...original.keys()]);
      for (const [key, t] of original) {
        const u = again.get(key)!;
        expect({ key, dtype: u.dtype, shape: u.shape, data: Buffer.from(u.data).toString('hex') }).toEqual({
          key,
          dtype: t.dtype,
          shape: t.shape,
          data: Buffer.from(t.data).toString('hex'),
        });
      }
    },
  );

  it('keeps a non-uint8 quant_storage (FSDP checkpoints) byte for byte', async () => {
    const { q } = quantizeGolden('nf4_bs64_4x64');
    const dict = bnb4StateDict(q, PREFIX);
    const w = dict.get(`${PREFIX}weight`)!;
    dict.set(`${PREFIX}weight`, hostTensor('BF16', [w.data.length / 2, 1], w.data));
    const read = await readBnb4Tensor(stateDictSource(dict), PREFIX);
    expect(read.tensor.storage).toBe('BF16');
    const again = bnb4StateDict(read.tensor, PREFIX).get(`${PREFIX}weight`)!;
    expect(again.dtype).toBe('BF16');
    expect(again.shape).toEqual([64, 1]);
    expect(again.data).toEqual(w.data);
  });

  it('detects the quant state of a prefix', () => {
    const { q } = quantizeGolden('nf4_bs64_4x64');
    const source = stateDictSource(bnb4StateDict(q, PREFIX));
    expect(hasBnb4QuantState(source, PREFIX)).toBe(true);
    expect(hasBnb4QuantState(source, 'model.layers.1.mlp.up_proj.')).toBe(false);
  });
});

describe('readBnb4Tensor rejects malformed input with an error naming the tensor', () => {
  const base = () => bnb4StateDict(quantizeGolden('nf4_fp16_dq_6x64').q, PREFIX);
  const blobKey = `${PREFIX}weight.quant_state.bitsandbytes__nf4`;
  const withJson = (dict: StateDict, text: string, key = blobKey): StateDict => {
    dict.delete(blobKey);
    const bytes = new TextEncoder().encode(text);
    dict.set(key, hostTensor('U8', [bytes.length], bytes));
    return dict;
  };
  const json = (edit: (o: Record<string, unknown>) => void) => {
    const o = JSON.parse(new TextDecoder().decode(base().get(blobKey)!.data)) as Record<string, unknown>;
    edit(o);
    return JSON.stringify(o);
  };
  const expectError = async (dict: StateDict, tensor: string, pattern: RegExp) => {
    const err = await readBnb4Tensor(stateDictSource(dict, 'model.safetensors'), PREFIX).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(Bnb4FormatError);
    expect((err as Bnb4FormatError).tensor).toBe(tensor);
    expect((err as Error).message).toContain('model.safetensors');
    expect((err as Error).message).toMatch(pattern);
  };

  it('absmax of the wrong length', async () => {
    const dict = base();
    dict.set(`${PREFIX}weight.absmax`, hostTensor('U8', [5], new Uint8Array(5)));
    await expectError(dict, `${PREFIX}weight.absmax`, /5 elements .* expected 6/);
  });

  it('float absmax where the state is nested', async () => {
    const dict = base();
    dict.set(`${PREFIX}weight.absmax`, fromFloat32(new Float32Array(6), [6]));
    await expectError(dict, `${PREFIX}weight.absmax`, /dtype F32, expected U8/);
  });

  it('packed bytes that do not match the logical shape', async () => {
    const dict = base();
    dict.set(`${PREFIX}weight`, hostTensor('U8', [191, 1], new Uint8Array(191)));
    await expectError(dict, `${PREFIX}weight`, /holds 191 bytes, but logical shape \[6,64\] needs 192/);
  });

  it('an unknown quant_type in the JSON', async () => {
    await expectError(
      withJson(
        base(),
        json((o) => (o['quant_type'] = 'int4')),
      ),
      blobKey,
      /unknown quant_type "int4"/,
    );
  });

  it('an unknown quant type in the key name', async () => {
    const key = `${PREFIX}weight.quant_state.bitsandbytes__int4`;
    await expectError(
      withJson(
        base(),
        json((o) => (o['quant_type'] = 'int4')),
        key,
      ),
      key,
      /unknown quant_type/,
    );
  });

  it('a JSON quant_type that contradicts the key', async () => {
    await expectError(
      withJson(
        base(),
        json((o) => (o['quant_type'] = 'fp4')),
      ),
      blobKey,
      /contradicts the tensor name/,
    );
  });

  it('a bad blocksize', async () => {
    await expectError(
      withJson(
        base(),
        json((o) => (o['blocksize'] = 48)),
      ),
      blobKey,
      /blocksize 48 is not one of/,
    );
  });

  it('a JSON blob that is not valid', async () => {
    await expectError(withJson(base(), '{"quant_type": "nf4", '), blobKey, /not valid UTF-8 JSON/);
    await expectError(withJson(base(), '[1, 2]'), blobKey, /not an object/);
    await expectError(
      withJson(
        base(),
        json((o) => (o['shape'] = [6, -64])),
      ),
      blobKey,
      /shape .* positive integers/,
    );
    await expectError(
      withJson(
        base(),
        json((o) => delete o['dtype']),
      ),
      blobKey,
      /dtype undefined/,
    );
  });

  it('a missing quant_map', async () => {
    const dict = base();
    dict.delete(`${PREFIX}weight.quant_map`);
    await expectError(dict, `${PREFIX}weight.quant_map`, /missing/);
  });

  it('nested tensors next to a non-nested state', async () => {
    const dict = base();
    await expectError(
      withJson(
        dict,
        json((o) => {
          delete o['nested_offset'];
          delete o['nested_blocksize'];
          delete o['nested_dtype'];
        }),
      ),
      `${PREFIX}weight.absmax`,
      /dtype U8, expected F32/,
    );
  });

  it('a bias of the wrong length', async () => {
    const dict = base();
    dict.set(`${PREFIX}bias`, fromFloat32(new Float32Array(5), [5]));
    await expectError(dict, `${PREFIX}bias`, /expected \[6\]/);
  });

  it('two quant states for one weight', async () => {
    const dict = base();
    const blob = dict.get(blobKey)!;
    dict.set(`${PREFIX}weight.quant_state.bitsandbytes__fp4`, blob);
    await expectError(dict, `${PREFIX}weight`, /exactly one quant state/);
  });
});

describe('quantize4bit rejects bad input', () => {
  it('NaN or Inf is a NonFiniteWeightError naming the tensor and the first bad index', () => {
    const values = new Float32Array(100).fill(0.25);
    values[37] = Number.NaN;
    values[80] = Number.POSITIVE_INFINITY;
    const err = (() => {
      try {
        quantize4bit(values, { name: 'model.layers.3.self_attn.q_proj.weight' });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(NonFiniteWeightError);
    expect((err as NonFiniteWeightError).index).toBe(37);
    expect((err as Error).message).toContain('model.layers.3.self_attn.q_proj.weight');
    // Opting in quantizes as the kernel would: NaN scales to code 0.
    const q = quantize4bit(values, { allowNonFinite: true, doubleQuant: false });
    expect(q.packed[18]! & 15).toBe(0);
  });

  it('bad options and dtypes are ConfigErrors naming the tensor', () => {
    const values = new Float32Array(64);
    expect(() => quantize4bit(values, { blocksize: 48, name: 'w1' })).toThrow(/w1: blocksize 48/);
    expect(() => quantize4bit(values, { quantType: 'int4' as 'nf4', name: 'w2' })).toThrow(ConfigError);
    expect(() => quantize4bit(values, { shape: [7, 9], name: 'w3' })).toThrow(/w3: shape \[7,9\]/);
    const ints: HostTensor = hostTensor('I32', [4], new Uint8Array(16));
    expect(() => quantize4bit(ints, { name: 'w4' })).toThrow(/w4: cannot quantize a I32 tensor/);
  });
});
