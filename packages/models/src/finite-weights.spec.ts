import {
  type DType,
  fromFloat32,
  NonFiniteWeightError,
  ShapeMismatchError,
  type StateDict,
  stateDictSource,
  type TensorSource,
  toFloat32,
} from '@peft/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseLlamaConfig } from './config.js';
import { firstNonFinite } from './finite-weights.js';
import { loadLlama } from './load.js';
import { useCpuBackend } from './test-support/tf-cpu.js';
import { TINY_CONFIGS, tinyStateDict } from './test-support/tiny-models.js';

beforeAll(useCpuBackend);

const CONFIG = parseLlamaConfig(TINY_CONFIGS['llama GQA untied']!);

describe('firstNonFinite reads the stored bits', () => {
  const specials = [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY];
  it.each(['F32', 'F16', 'BF16', 'F64'] as const)(
    '%s: finds NaN and ±Inf, passes the largest finite values',
    (dtype) => {
      const largest = {
        F32: 3.4028234663852886e38,
        F16: 65504,
        BF16: 3.3895313892515355e38,
        F64: 3.4028234663852886e38,
      }[dtype]!;
      const finite = [0, -0, 1, -2.5, largest, -largest, 1e-40];
      expect(firstNonFinite(fromFloat32(finite, [finite.length], dtype))).toBe(-1);
      for (const special of specials) {
        const values = [...finite, special, 1];
        expect(firstNonFinite(fromFloat32(values, [values.length], dtype))).toBe(finite.length);
      }
    },
  );

  it('agrees with a plain scan over float32 values on every 16-bit pattern', () => {
    for (const dtype of ['F16', 'BF16'] as DType[]) {
      const data = new Uint8Array(2 * 65536);
      for (let bits = 0; bits < 65536; bits++) {
        data[2 * bits] = bits & 0xff;
        data[2 * bits + 1] = bits >> 8;
      }
      const all = { dtype, shape: [65536], data };
      const values = toFloat32(all);
      const expected = values.findIndex((v) => !Number.isFinite(v));
      expect(firstNonFinite(all)).toBe(expected);
      // Every non-finite pattern is found where it is.
      let count = 0;
      for (let bits = 0; bits < 65536; bits++) {
        const one = { dtype, shape: [1], data: data.subarray(2 * bits, 2 * bits + 2) };
        if ((firstNonFinite(one) === 0) !== !Number.isFinite(values[bits]!)) count++;
      }
      expect(count).toBe(0);
    }
  });
});

function withValue(dict: StateDict, key: string, index: number, value: number, dtype: DType): StateDict {
  const tensor = dict.get(key)!;
  const values = toFloat32(tensor);
  values[index] = value;
  dict.set(key, fromFloat32(values, tensor.shape, dtype));
  return dict;
}

async function loadError(
  source: TensorSource,
  options: Parameters<typeof loadLlama>[2] = {},
): Promise<unknown> {
  const before = tf.memory().numTensors;
  const error = await loadLlama(source, CONFIG, options).then(
    () => null,
    (e: unknown) => e,
  );
  expect(tf.memory().numTensors).toBe(before);
  return error;
}

describe('loading refuses NaN and ±Inf in float weights, naming the file and the tensor', () => {
  it.each([
    ['model.layers.1.mlp.down_proj.weight', 'F32', Number.NaN, 5],
    ['model.layers.0.self_attn.q_proj.weight', 'F16', Number.POSITIVE_INFINITY, 0],
    ['lm_head.weight', 'BF16', Number.NEGATIVE_INFINITY, 100],
    ['model.layers.0.input_layernorm.weight', 'F32', Number.NaN, 3],
  ] as [string, DType, number, number][])('%s (%s, %s at %i)', async (key, dtype, value, index) => {
    const dict = withValue(tinyStateDict(CONFIG, 2), key, index, value, dtype);
    const error = await loadError(stateDictSource(dict, 'model/model.safetensors'));
    expect(error).toBeInstanceOf(NonFiniteWeightError);
    expect((error as NonFiniteWeightError).code).toBe('NON_FINITE_WEIGHT');
    expect((error as NonFiniteWeightError).tensor).toBe(key);
    expect(String(error)).toContain(
      `model/model.safetensors: tensor "${key}" has a non-finite value ${value} at flat index ${index}`,
    );
  });

  it('before a quantizer sees the weight', async () => {
    const key = 'model.layers.1.self_attn.v_proj.weight';
    const dict = withValue(tinyStateDict(CONFIG, 2), key, 7, Number.NaN, 'F32');
    const seen: string[] = [];
    const error = await loadError(stateDictSource(dict, 'ckpt'), {
      quantizeLinear: (_, { path }) => {
        seen.push(path);
        return null;
      },
    });
    expect(error).toBeInstanceOf(NonFiniteWeightError);
    expect(seen).not.toContain('model.layers.1.self_attn.v_proj');
  });
});

describe('stored shapes are compared with the config before any weight is read', () => {
  it('a config that does not describe the file reads nothing', async () => {
    const dict = tinyStateDict(CONFIG, 2);
    const last = 'model.layers.1.mlp.down_proj.weight';
    const [out, inF] = dict.get(last)!.shape as [number, number];
    dict.set(last, fromFloat32(new Float32Array(out * (inF + 1)), [out, inF + 1]));
    const source = stateDictSource(dict, 'ckpt');
    const read: string[] = [];
    const counting: TensorSource = {
      ...source,
      get: (key) => {
        read.push(key);
        return source.get(key);
      },
    };
    const error = await loadError(counting);
    expect(error).toBeInstanceOf(ShapeMismatchError);
    expect(String(error)).toContain(
      `"${last}" has shape [${out},${inF + 1}], the config needs [${out},${inF}]`,
    );
    expect(read).toEqual([]);
  });
});
