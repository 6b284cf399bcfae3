import {
  ConfigError,
  type DenseLinear,
  fromFloat32,
  fromIntegers,
  isLinear,
  type LinearFormat,
  type LinearLike,
  Module,
  NonFiniteWeightError,
  type QuantizedLinear,
  readDenseLinear,
  registerLinearFormat,
  ShapeMismatchError,
  type StateDict,
  stateDictSource,
  toFloat32,
  unregisterLinearFormat,
} from '@peft/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseLlamaConfig } from './config.js';
import { CheckpointError } from './errors.js';
import { loadLlama } from './load.js';
import { referenceLogits, weightsOf } from './test-support/reference-llama.js';
import { useCpuBackend } from './test-support/tf-cpu.js';
import { relativeError, TINY_CONFIGS, tinyStateDict } from './test-support/tiny-models.js';

beforeAll(useCpuBackend);

const RAW = TINY_CONFIGS['llama GQA untied']!;
const CONFIG = parseLlamaConfig(RAW);
const IDS = [3, 17, 9, 1, 22, 5];

function edited(
  edit: (dict: StateDict) => void,
  raw = RAW,
): { dict: StateDict; config: ReturnType<typeof parseLlamaConfig> } {
  const config = parseLlamaConfig(raw);
  const dict = tinyStateDict(config, 2);
  edit(dict);
  return { dict, config };
}

async function loadFails(dict: StateDict, config = CONFIG): Promise<unknown> {
  const before = tf.memory().numTensors;
  const error = await loadLlama(stateDictSource(dict, 'ckpt'), config).then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).not.toBeNull();
  // Whatever was loaded before the failure has been disposed.
  expect(tf.memory().numTensors).toBe(before);
  return error;
}

function logitsOf(
  model: { forward: (i: { inputIds: number[][] }) => { logits: tf.Tensor } },
  ids = IDS,
): Float32Array {
  const { logits } = model.forward({ inputIds: [ids] });
  const values = logits.dataSync() as Float32Array;
  logits.dispose();
  return values;
}

describe('module tree', () => {
  it("uses transformers' module and parameter names, every projection a core Linear", async () => {
    const config = parseLlamaConfig(TINY_CONFIGS['qwen2 bias tied theta 1e6']!);
    const model = await loadLlama(stateDictSource(tinyStateDict(config, 1)), config);
    const paths = [...model.namedModules()].map(([p]) => p);
    for (const path of [
      'model',
      'model.embed_tokens',
      'model.layers',
      'model.layers.1.self_attn.q_proj',
      'model.layers.1.self_attn.o_proj',
      'model.layers.0.mlp.gate_proj',
      'model.layers.0.mlp.down_proj',
      'model.layers.0.input_layernorm',
      'model.layers.0.post_attention_layernorm',
      'model.norm',
      'lm_head',
    ]) {
      expect(paths).toContain(path);
    }
    const linears = paths.filter((p) => isLinear(model.getSubmodule(p)));
    expect(linears).toHaveLength(2 * 7 + 1);
    expect([...model.namedParameters()].map(([n]) => n)).toEqual([
      'model.embed_tokens.weight',
      ...[0, 1].flatMap((i) => [
        `model.layers.${i}.input_layernorm.weight`,
        `model.layers.${i}.post_attention_layernorm.weight`,
      ]),
      'model.norm.weight',
    ]);
    expect(model.trainableVariables()).toEqual([]);
    model.dispose();
  });

  it('calls whatever module sits at a projection path now (adapter injection replaces children)', async () => {
    const { dict, config } = edited(() => {});
    const model = await loadLlama(stateDictSource(dict), config);
    const before = logitsOf(model);
    const path = 'model.layers.0.mlp.up_proj';
    const base = model.getSubmodule(path) as unknown as LinearLike;
    class Doubling extends Module implements LinearLike {
      readonly inFeatures = base.inFeatures;
      readonly outFeatures = base.outFeatures;
      calls = 0;
      forward(x: tf.Tensor): tf.Tensor {
        this.calls++;
        return tf.tidy(() => tf.mul(base.forward(x), 2));
      }
    }
    const doubling = new Doubling();
    model.setSubmodule(path, doubling);
    const after = logitsOf(model);
    expect(doubling.calls).toBe(1);
    expect(relativeError(after, before)).toBeGreaterThan(1e-3);
    model.setSubmodule(path, base as unknown as Module);
    expect(relativeError(logitsOf(model), before)).toBe(0);
    model.dispose();
  });
});

describe('loading', () => {
  it('reads F16 and BF16 checkpoints (computing in float32)', async () => {
    for (const dtype of ['F16', 'BF16'] as const) {
      const { dict, config } = edited((d) => {
        for (const [k, v] of d) d.set(k, fromFloat32(toFloat32(v), v.shape, dtype));
      });
      const model = await loadLlama(stateDictSource(dict), config);
      const expected = referenceLogits(RAW, weightsOf(dict), IDS).flatMap((r) => [...r]);
      expect(relativeError(logitsOf(model), expected)).toBeLessThan(1e-4);
      expect(model.getSubmodule('lm_head')).toSatisfy(
        (m) => isLinear(m) && m.layer.storageBytes === 61 * 32 * 2,
      );
      model.dispose();
    }
  });

  it('ignores the legacy rotary_emb.inv_freq buffer and a duplicate lm_head of tied checkpoints', async () => {
    const tiedRaw = TINY_CONFIGS['qwen2 bias tied theta 1e6']!;
    const { dict, config } = edited((d) => {
      d.set('model.layers.0.self_attn.rotary_emb.inv_freq', fromFloat32([1, 0.1], [2]));
      d.set('lm_head.weight', fromFloat32(new Float32Array(53 * 24), [53, 24]));
    }, tiedRaw);
    const model = await loadLlama(stateDictSource(dict), config);
    const expected = referenceLogits(tiedRaw, weightsOf(dict), IDS).flatMap((r) => [...r]);
    expect(relativeError(logitsOf(model), expected)).toBeLessThan(1e-4);
    model.dispose();
  });

  it('loads each projection through the linear-format registry', async () => {
    const seen: string[] = [];
    // A stand-in quantizer: it claims layers that carry a `weight.fake_scale` tensor.
    const fake: LinearFormat = {
      specificationVersion: 'v1',
      name: 'fake-test-format',
      detect: (source, prefix) => source.has(`${prefix}weight.fake_scale`),
      async read(source, prefix): Promise<QuantizedLinear> {
        seen.push(prefix);
        const dense = await readDenseLinear(source, prefix);
        return Object.assign(Object.create(dense) as DenseLinear, { scheme: 'fake' });
      },
    };
    registerLinearFormat(fake);
    try {
      const { dict, config } = edited((d) =>
        d.set('model.layers.1.mlp.down_proj.weight.fake_scale', fromFloat32([1], [1])),
      );
      const model = await loadLlama(stateDictSource(dict), config);
      expect(seen).toEqual(['model.layers.1.mlp.down_proj.']);
      const layer = model.getSubmodule('model.layers.1.mlp.down_proj');
      expect(isLinear(layer) && layer.layer.scheme).toBe('fake');
      model.dispose();
    } finally {
      unregisterLinearFormat('fake-test-format');
    }
  });
});

describe('bad checkpoints fail with typed errors naming the tensor, and leak nothing', () => {
  it('a missing tensor', async () => {
    const { dict } = edited((d) => d.delete('model.layers.1.mlp.up_proj.weight'));
    const error = await loadFails(dict);
    expect(error).toBeInstanceOf(CheckpointError);
    expect((error as CheckpointError).tensor).toBe('model.layers.1.mlp.up_proj.weight');
    expect(String(error)).toMatch(/ckpt: tensor "model.layers.1.mlp.up_proj.weight" is missing/);
  });

  it('a missing head of an untied model', async () => {
    const { dict } = edited((d) => d.delete('lm_head.weight'));
    expect(String(await loadFails(dict))).toMatch(/"lm_head.weight" is missing/);
  });

  it('a projection of the wrong shape', async () => {
    const { dict } = edited((d) =>
      d.set('model.layers.0.self_attn.k_proj.weight', fromFloat32(new Float32Array(32 * 32), [32, 32])),
    );
    const error = await loadFails(dict);
    expect(error).toBeInstanceOf(ShapeMismatchError);
    expect(String(error)).toMatch(
      /"model.layers.0.self_attn.k_proj.weight" has shape \[32,32\], the config needs \[16,32\]/,
    );
  });

  it('an embedding or norm of the wrong shape', async () => {
    const { dict } = edited((d) => d.set('model.norm.weight', fromFloat32(new Float32Array(31), [31])));
    const error = await loadFails(dict);
    expect(error).toBeInstanceOf(ShapeMismatchError);
    expect(String(error)).toMatch(/"model.norm.weight" has shape \[31\], the config needs \[32\]/);
  });

  it('an unknown tensor (unless strict is off)', async () => {
    const { dict, config } = edited((d) => d.set('model.layers.0.extra.weight', fromFloat32([1], [1])));
    const error = await loadFails(dict);
    expect(error).toBeInstanceOf(CheckpointError);
    expect(String(error)).toMatch(/"model.layers.0.extra.weight" is not part of this model/);
    const model = await loadLlama(stateDictSource(dict), config, { strict: false });
    model.dispose();
  });

  it('a bias the config does not have, or a missing bias it needs', async () => {
    const { dict } = edited((d) =>
      d.set('model.layers.0.self_attn.o_proj.bias', fromFloat32(new Float32Array(32), [32])),
    );
    expect(String(await loadFails(dict))).toMatch(
      /"model.layers.0.self_attn.o_proj.bias" is present but the config has no bias/,
    );
    const qwen = parseLlamaConfig(TINY_CONFIGS['qwen2 bias tied theta 1e6']!);
    const qwenDict = tinyStateDict(qwen, 1);
    qwenDict.delete('model.layers.1.self_attn.v_proj.bias');
    expect(String(await loadFails(qwenDict, qwen))).toMatch(
      /"model.layers.1.self_attn.v_proj.bias" is missing but the config calls for a bias/,
    );
  });

  it('loads float linears of a bitsandbytes checkpoint dense (lm_head stays unquantized there)', async () => {
    const raw = {
      ...RAW,
      quantization_config: { quant_method: 'bitsandbytes', load_in_4bit: true, bnb_4bit_quant_type: 'nf4' },
    };
    const { dict, config } = edited(() => undefined, raw);
    const model = await loadLlama(stateDictSource(dict, 'ckpt'), config);
    expect(model.getSubmodule('lm_head')).toSatisfy((m) => isLinear(m) && m.layer.scheme === 'dense');
    model.dispose();
  });

  it('a quantized weight with no reader registered', async () => {
    const { dict } = edited((d) =>
      d.set('model.layers.0.mlp.gate_proj.weight', fromIntegers(new Uint8Array(768), [768, 1], 'U8')),
    );
    const error = await loadFails(dict);
    expect(error).toBeInstanceOf(ConfigError);
    expect(String(error)).toMatch(
      /"model.layers.0.mlp.gate_proj.weight" is U8\[768,1\].*import "@peft\/quant-bnb4"/,
    );
  });

  it('a non-finite embedding', async () => {
    const { dict } = edited((d) => {
      const values = toFloat32(d.get('model.embed_tokens.weight')!);
      values[70] = Number.NaN;
      d.set('model.embed_tokens.weight', fromFloat32(values, [61, 32]));
    });
    const error = await loadFails(dict);
    expect(error).toBeInstanceOf(NonFiniteWeightError);
    expect(String(error)).toMatch(/"model.embed_tokens.weight" has a non-finite value NaN at flat index 70/);
  });

  it('an integer norm weight', async () => {
    const { dict } = edited((d) =>
      d.set('model.norm.weight', fromIntegers(new Array(32).fill(1), [32], 'I32')),
    );
    expect(String(await loadFails(dict))).toMatch(
      /"model.norm.weight" is I32; expected a floating-point tensor/,
    );
  });
});
