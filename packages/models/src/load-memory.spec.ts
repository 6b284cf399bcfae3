import {
  type HostTensor,
  isLinear,
  type LinearFormat,
  registerLinearFormat,
  type StateDict,
  stateDictSource,
  toFloat32,
  unregisterLinearFormat,
} from '@peft/core';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseLlamaConfig } from './config.js';
import { checkpointLayout } from './layout.js';
import { loadLlama } from './load.js';
import type { LlamaForCausalLM } from './model.js';
import { Int8TestLinear } from './test-support/int8-test-linear.js';
import { useCpuBackend } from './test-support/tf-cpu.js';
import { relativeError, TINY_CONFIGS, tinyStateDict } from './test-support/tiny-models.js';

beforeAll(useCpuBackend);

// Tied: every linear of this config is a projection a quantizer takes (no lm_head linear).
const CONFIG = parseLlamaConfig(TINY_CONFIGS['qwen2 bias tied theta 1e6']);
const LINEARS = checkpointLayout(CONFIG).linears;
const DICT = tinyStateDict(CONFIG, 9);
const IDS = [[3, 17, 9, 1, 22, 5]];

/**
 * Runs `load` while recording every float32 tensor tfjs creates whose element count is that of a
 * projection weight (dense, transposed or flattened copies all count). The tiny config's other
 * float tensors (embedding, norms, biases, rotary tables) have other sizes.
 */
async function denseWeightTensorsDuring<T>(
  load: () => Promise<T>,
): Promise<{ result: T; dense: number[][] }> {
  const sizes = new Set(LINEARS.map((l) => l.outFeatures * l.inFeatures));
  const other = [CONFIG.vocabSize * CONFIG.hiddenSize, CONFIG.hiddenSize, CONFIG.intermediateSize];
  expect(other.some((n) => sizes.has(n))).toBe(false);
  const engine = tf.engine() as unknown as { trackTensor(t: tf.Tensor, backend: unknown): void };
  const original = engine.trackTensor;
  const dense: number[][] = [];
  engine.trackTensor = function (this: unknown, t: tf.Tensor, backend: unknown) {
    if (t.dtype === 'float32' && sizes.has(t.size)) dense.push([...t.shape]);
    return original.call(this, t, backend);
  };
  try {
    return { result: await load(), dense };
  } finally {
    engine.trackTensor = original;
  }
}

function logits(model: LlamaForCausalLM): Float32Array {
  return tf.tidy(() => model.forward({ inputIds: IDS }).logits.dataSync() as Float32Array);
}

function schemes(model: LlamaForCausalLM): string[] {
  return LINEARS.map((l) => {
    const m = model.getSubmodule(l.path);
    return isLinear(m) ? m.layer.scheme : 'not a Linear';
  });
}

let denseLogits: Float32Array;
beforeAll(async () => {
  const model = await loadLlama(stateDictSource(DICT), CONFIG);
  denseLogits = logits(model);
  model.dispose();
});

describe('loading does not densify quantized weights', () => {
  it('the counter sees the dense weights of a plain load', async () => {
    const { result, dense } = await denseWeightTensorsDuring(() => loadLlama(stateDictSource(DICT), CONFIG));
    expect(dense.length).toBeGreaterThanOrEqual(LINEARS.length);
    result.dispose();
  });

  it('quantizeLinear: each weight goes from the host to the quantizer, never through a dense tensor', async () => {
    const seen: string[] = [];
    const { result: model, dense } = await denseWeightTensorsDuring(() =>
      loadLlama(stateDictSource(DICT), CONFIG, {
        quantizeLinear: (weight: HostTensor, { path, bias }) => {
          seen.push(path);
          const spec = LINEARS.find((l) => l.path === path)!;
          expect(weight.shape).toEqual([spec.outFeatures, spec.inFeatures]);
          // Qwen2 has biases on q, k and v only.
          expect(bias !== null).toBe(/[qkv]_proj$/.test(path));
          return Int8TestLinear.fromHost(weight, bias);
        },
      }),
    );
    expect(dense).toEqual([]);
    expect(seen).toEqual(LINEARS.map((l) => l.path));
    expect(new Set(schemes(model))).toEqual(new Set(['int8-test']));
    // The quantized model computes what the dense one does, up to int8 rounding.
    expect(relativeError(logits(model), denseLogits)).toBeLessThan(0.05);
    model.dispose();
  });

  it('quantizeLinear returning null keeps that layer dense', async () => {
    const model = await loadLlama(stateDictSource(DICT), CONFIG, {
      quantizeLinear: (weight, { path, bias }) =>
        path.includes('.mlp.') ? Int8TestLinear.fromHost(weight, bias) : null,
    });
    expect(schemes(model)).toEqual(LINEARS.map((l) => (l.path.includes('.mlp.') ? 'int8-test' : 'dense')));
    model.dispose();
  });

  describe('a checkpoint whose weights are stored quantized (as a *-bnb-4bit folder)', () => {
    const format: LinearFormat = {
      specificationVersion: 'v1',
      name: 'int8-test',
      detect: (source, prefix) => source.has(`${prefix}weight.int8_scale`),
      async read(source, prefix) {
        const weight = await source.get(`${prefix}weight`);
        const scales = toFloat32(await source.get(`${prefix}weight.int8_scale`));
        const bias = source.has(`${prefix}bias`) ? toFloat32(await source.get(`${prefix}bias`)) : null;
        const [out, inF] = weight.shape as [number, number];
        const codes = new Int8Array(weight.data.buffer, weight.data.byteOffset, out * inF);
        return new Int8TestLinear(out, inF, codes, scales, bias);
      },
    };
    beforeAll(() => registerLinearFormat(format));
    afterAll(() => unregisterLinearFormat('int8-test'));

    it('loads every projection through its format, with no dense copy and no call to quantizeLinear', async () => {
      const stored: StateDict = new Map(DICT);
      for (const { path } of LINEARS) {
        const bias = DICT.get(`${path}.bias`) ?? null;
        stored.delete(`${path}.weight`);
        stored.delete(`${path}.bias`);
        for (const [k, v] of Int8TestLinear.stateDictOf(DICT.get(`${path}.weight`)!, bias, `${path}.`))
          stored.set(k, v);
      }
      let calls = 0;
      const { result: model, dense } = await denseWeightTensorsDuring(() =>
        loadLlama(stateDictSource(stored), CONFIG, {
          quantizeLinear: () => {
            calls++;
            return null;
          },
        }),
      );
      expect(dense).toEqual([]);
      expect(calls).toBe(0);
      expect(new Set(schemes(model))).toEqual(new Set(['int8-test']));
      expect(relativeError(logits(model), denseLogits)).toBeLessThan(0.05);
      model.dispose();
    });
  });
});
