import { DenseLinear, isLinear, Linear, Module } from '@peft/core';
import * as tf from '@tensorflow/tfjs-core';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isAdapterLayer } from './adapter-layer.js';
import { AdapterNameError } from './adapter-name.js';
import { AdapterStateError, MergeError } from './errors.js';
import { isModulesToSaveWrapper } from './modules-to-save.js';
import { getPeftModel } from './peft-model.js';
import { registerPeftMethod } from './registry.js';
import { useCpuBackend } from './test-support/tf-cpu.js';
import { type ToyLayer, toyConfig, toyMethod } from './test-support/toy-method.js';
import { TinyLlamaForCausalLM } from './testing/index.js';
import { type PeftWarning, setWarningHandler } from './warnings.js';

beforeAll(async () => {
  await useCpuBackend();
  registerPeftMethod(toyMethod);
});

const warnings: PeftWarning[] = [];
setWarningHandler((w) => warnings.push(w));
afterEach(() => {
  warnings.length = 0;
});

class TwoLinears extends Module {
  constructor() {
    super();
    this.registerModule('a', new Linear(DenseLinear.fromArray(new Float32Array(16).fill(0.5), 4, 4)));
    this.registerModule('explode', new Linear(DenseLinear.fromArray(new Float32Array(16).fill(0.25), 4, 4)));
  }
}

function input(): tf.Tensor2D {
  return tf.tensor2d(
    Array.from({ length: 3 * 16 }, (_, i) => Math.sin(i * 0.7)),
    [3, 16],
  );
}

function values(t: tf.Tensor): number[] {
  const v = Array.from(t.dataSync());
  t.dispose();
  return v;
}

function maxAbsDiff(a: number[], b: number[]): number {
  return Math.max(...a.map((v, i) => Math.abs(v - b[i]!)));
}

describe('injection', () => {
  it('wraps exactly the targeted linear leaves and computes base + s·(x·v)·u on each', () => {
    const model = new TinyLlamaForCausalLM({ layers: 1 });
    const x = input();
    const q = model.getSubmodule('model.layers.0.self_attn.q_proj') as Linear;
    const baseOut = values(q.forward(x));
    const peft = getPeftModel(model, toyConfig({ target_modules: ['q_proj', 'down_proj'], scale: 2 }));
    expect(peft.adapterLayers().map(([p]) => p)).toEqual([
      'model.layers.0.self_attn.q_proj',
      'model.layers.0.mlp.down_proj',
    ]);
    const wrapped = model.getSubmodule('model.layers.0.self_attn.q_proj');
    expect(isAdapterLayer(wrapped)).toBe(true);
    expect(isLinear(model.getSubmodule('model.layers.0.self_attn.k_proj'))).toBe(true);

    // Independent reference with plain arrays.
    const layer = (wrapped as unknown as { adapter(n: string): ToyLayer }).adapter('default');
    const u = Array.from(layer.u.dataSync());
    const v = Array.from(layer.v.dataSync());
    const xs = Array.from(x.dataSync());
    const expected = baseOut.map((b, k) => {
      const row = Math.floor(k / 16);
      const o = k % 16;
      const proj = v.reduce((s, vi, i) => s + vi * xs[row * 16 + i]!, 0);
      return b + 2 * proj * u[o]!;
    });
    const got = values((wrapped as unknown as Linear).forward(x));
    expect(maxAbsDiff(got, expected)).toBeLessThan(1e-5);
    x.dispose();
    peft.dispose();
  });

  it('leaves the model untouched when layer creation fails half way', () => {
    const model = new TwoLinears();
    const before = [...model.namedModules()].map(([p, m]) => [p, m.constructor.name]);
    expect(() => getPeftModel(model, toyConfig({ target_modules: ['a', 'explode'] }))).toThrow(
      /layer creation failed/,
    );
    expect([...model.namedModules()].map(([p, m]) => [p, m.constructor.name])).toEqual(before);
    model.dispose();
  });

  it('rejects unsafe adapter names, duplicates and checks the method makes', () => {
    const model = new TinyLlamaForCausalLM({ layers: 1 });
    const peft = getPeftModel(model, toyConfig({ target_modules: ['q_proj'] }));
    for (const bad of ['', '..', '../x', 'a/b', 'a\\b', '/abs', 'C:x', 'a.b']) {
      expect(() => peft.addAdapter(bad, toyConfig({ target_modules: ['q_proj'] }))).toThrow(AdapterNameError);
    }
    expect(() => peft.addAdapter('default', toyConfig({ target_modules: ['q_proj'] }))).toThrow(
      AdapterStateError,
    );
    expect(() => peft.addAdapter('other', toyConfig({ target_modules: ['q_proj'], scale: 13 }))).toThrow(
      /scale 13/,
    );
    expect(() => peft.addAdapter('other', { peft_type: 'NOPE' })).toThrow(/install @peft\/nope/);
    expect(peft.peftConfig.size).toBe(1);
    peft.dispose();
  });

  it('warns about unknown config fields and forces fan_in_fan_out off for linear layers', () => {
    const model = new TinyLlamaForCausalLM({ layers: 1 });
    const config = { ...toyConfig({ target_modules: ['q_proj'] }), fan_in_fan_out: true, typo_field: 1 };
    const peft = getPeftModel(model, config);
    expect(warnings.map((w) => w.code).sort()).toEqual(['FAN_IN_FAN_OUT', 'UNKNOWN_CONFIG_KEY']);
    expect(peft.peftConfig.get('default')!.fan_in_fan_out).toBe(false);
    peft.dispose();
  });
});

describe('several adapters, enable/disable, train/eval', () => {
  it('adds without activating, switches, deletes, and only the active adapter trains', () => {
    const model = new TinyLlamaForCausalLM({ layers: 1 });
    const x = input();
    const baseline = values(model.forward(x));
    const peft = getPeftModel(model, toyConfig({ target_modules: ['q_proj'], scale: 1 }), 'first');
    const first = values(model.forward(x));
    peft.addAdapter('second', toyConfig({ target_modules: ['q_proj', 'up_proj'], scale: -3 }));
    expect(peft.activeAdapters).toEqual(['first']);
    expect(values(model.forward(x))).toEqual(first);
    expect(peft.namedTrainableVariables().map(([p]) => p)).toEqual([
      'model.layers.0.self_attn.q_proj.adapters.first.u',
      'model.layers.0.self_attn.q_proj.adapters.first.v',
    ]);

    peft.setAdapter('second');
    const second = values(model.forward(x));
    expect(maxAbsDiff(second, first)).toBeGreaterThan(1e-3);
    expect(peft.trainableVariables()).toHaveLength(4);

    peft.setAdapter(['first', 'second']);
    expect(peft.activeAdapters).toEqual(['first', 'second']);
    expect(peft.trainableVariables()).toHaveLength(6);

    peft.deleteAdapter('second');
    expect(peft.activeAdapters).toEqual(['first']);
    expect(values(model.forward(x))).toEqual(first);
    // up_proj only had "second": it is a plain Linear leaf again.
    expect(isLinear(model.getSubmodule('model.layers.0.mlp.up_proj'))).toBe(true);
    expect(() => peft.setAdapter('second')).toThrow(/no adapter named "second"; adapters are: first/);

    peft.deleteAdapter('first');
    expect(values(model.forward(x))).toEqual(baseline);
    expect(peft.adapterLayers()).toHaveLength(0);
    x.dispose();
    peft.dispose();
  });

  it('disables adapters, also inside withAdaptersDisabled (sync, async and throwing)', async () => {
    const model = new TinyLlamaForCausalLM({ layers: 1 });
    const x = input();
    const baseline = values(model.forward(x));
    const peft = getPeftModel(model, toyConfig({ target_modules: 'all-linear' }));
    const adapted = values(model.forward(x));
    expect(maxAbsDiff(adapted, baseline)).toBeGreaterThan(1e-3);

    expect(peft.withAdaptersDisabled(() => values(model.forward(x)))).toEqual(baseline);
    expect(values(model.forward(x))).toEqual(adapted);
    expect(await peft.withAdaptersDisabled(async () => values(model.forward(x)))).toEqual(baseline);
    expect(peft.adaptersEnabled).toBe(true);
    expect(() =>
      peft.withAdaptersDisabled(() => {
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(peft.adaptersEnabled).toBe(true);

    peft.disableAdapters();
    expect(values(model.forward(x))).toEqual(baseline);
    peft.enableAdapters();
    expect(values(model.forward(x))).toEqual(adapted);
    x.dispose();
    peft.dispose();
  });

  it('freezes every adapter tensor while disabled and restores exactly the earlier trainable set', async () => {
    const model = new TinyLlamaForCausalLM({ layers: 1 });
    const peft = getPeftModel(
      model,
      toyConfig({ target_modules: ['q_proj', 'v_proj'], modules_to_save: ['lm_head'] }),
    );
    peft.addAdapter('other', toyConfig({ target_modules: ['q_proj'] }));
    const trainable = () => peft.namedTrainableVariables().map(([p]) => p);
    // A variable the user froze by hand stays frozen after a disable/enable round trip.
    const frozenByHand = peft
      .namedTrainableVariables()
      .find(([p]) => p === 'model.layers.0.self_attn.v_proj.adapters.default.u')![1];
    frozenByHand.trainable = false;
    const before = trainable();
    expect(before).toContain('lm_head.modules_to_save.default.weight');
    expect(before).toContain('model.layers.0.self_attn.q_proj.adapters.default.u');
    expect(before).not.toContain('model.layers.0.self_attn.v_proj.adapters.default.u');

    peft.disableAdapters();
    expect(trainable()).toEqual([]);
    peft.disableAdapters(); // twice: still restores the set from before the first call
    peft.enableAdapters();
    expect(trainable()).toEqual(before);

    expect(peft.withAdaptersDisabled(() => trainable())).toEqual([]);
    expect(await peft.withAdaptersDisabled(async () => trainable())).toEqual([]);
    expect(trainable()).toEqual(before);

    // Switching adapters while disabled keeps everything frozen; enabling gives the new adapter's set.
    peft.disableAdapters();
    peft.setAdapter('other');
    expect(trainable()).toEqual([]);
    peft.enableAdapters();
    expect(trainable()).toEqual([
      'model.layers.0.self_attn.q_proj.adapters.other.u',
      'model.layers.0.self_attn.q_proj.adapters.other.v',
    ]);
    peft.dispose();
  });

  it('switches dropout with train/eval on every adapter layer', () => {
    const model = new TinyLlamaForCausalLM({ layers: 1 });
    const peft = getPeftModel(model, toyConfig({ target_modules: ['q_proj'], dropout: 0.5 }));
    const x = input();
    const evalA = values(model.forward(x));
    expect(values(model.forward(x))).toEqual(evalA);
    peft.train();
    expect(peft.adapterLayers()[0]![1].adapter('default')!.training).toBe(true);
    const trainOut = values(model.forward(x));
    expect(maxAbsDiff(trainOut, evalA)).toBeGreaterThan(1e-4);
    peft.eval();
    expect(values(model.forward(x))).toEqual(evalA);
    x.dispose();
    peft.dispose();
  });

  it('prints the PEFT summary with logical parameter counts', () => {
    const model = new TinyLlamaForCausalLM({ layers: 1 });
    const peft = getPeftModel(model, toyConfig({ target_modules: ['q_proj', 'k_proj'] }));
    // linear weights: q 256 + k 128 + v 128 + o 256 + gate 384 + up 384 + down 384 + head 192 = 2112
    // norm weights: 3 x 16 = 48; toy: q (16 + 16) + k (8 + 16) = 56
    expect(peft.parameterCounts()).toEqual({ trainable: 56, all: 2112 + 48 + 56 });
    expect(peft.trainableParametersSummary()).toBe(
      'trainable params: 56 || all params: 2,216 || trainable%: 2.5271',
    );
    peft.dispose();
  });
});

describe('merge, unmerge, unload', () => {
  it('merges into dense layers without changing outputs and unmerges to the exact original weights', () => {
    const model = new TinyLlamaForCausalLM({ layers: 1 });
    const x = input();
    const peft = getPeftModel(model, toyConfig({ target_modules: 'all-linear', scale: 0.5 }));
    const adapted = values(model.forward(x));
    const q = () =>
      (model.getSubmodule('model.layers.0.self_attn.q_proj') as unknown as { base: DenseLinear }).base;
    const originalW = values(q().dequantize());
    peft.merge();
    expect(warnings.filter((w) => w.code === 'LOSSY_MERGE')).toHaveLength(0);
    expect(maxAbsDiff(values(model.forward(x)), adapted)).toBeLessThan(1e-5);
    expect(maxAbsDiff(values(q().dequantize()), originalW)).toBeGreaterThan(1e-4);
    peft.unmerge();
    expect(values(q().dequantize())).toEqual(originalW);
    expect(values(model.forward(x))).toEqual(adapted);

    const merged = peft.mergeAndUnload();
    expect(merged).toBe(model);
    expect([...model.namedModules()].some(([, m]) => isAdapterLayer(m))).toBe(false);
    expect(maxAbsDiff(values(model.forward(x)), adapted)).toBeLessThan(1e-5);
    expect(() => peft.setAdapter('default')).toThrow(/unloaded or disposed/);
    x.dispose();
    model.dispose();
  });

  it('warns once that there is nothing to do when every adapter is already merged (PEFT)', () => {
    const model = new TinyLlamaForCausalLM({ layers: 1 });
    const x = input();
    const peft = getPeftModel(model, toyConfig({ target_modules: 'all-linear', scale: 0.5 }));
    peft.addAdapter('extra', toyConfig({ target_modules: ['q_proj'] }));
    peft.merge();
    expect(warnings.filter((w) => w.code === 'ALREADY_MERGED')).toEqual([]);
    const merged = values(model.forward(x));
    const q = () =>
      (model.getSubmodule('model.layers.0.self_attn.q_proj') as unknown as { base: DenseLinear }).base;
    const mergedW = values(q().dequantize());

    peft.merge();
    expect(warnings).toEqual([
      { code: 'ALREADY_MERGED', message: 'All adapters are already merged, nothing to do.' },
    ]);
    // Nothing was merged a second time.
    expect(values(q().dequantize())).toEqual(mergedW);
    expect(values(model.forward(x))).toEqual(merged);

    warnings.length = 0;
    peft.merge(['default', 'extra']);
    expect(warnings.map((w) => w.message)).toEqual([
      'Already following adapters were merged default. You are now additionally merging extra.',
    ]);
    x.dispose();
    peft.dispose();
  });

  it('unmerges a layer merged while adapters are disabled on its next call, as PEFT does', () => {
    const model = new TinyLlamaForCausalLM({ layers: 1 });
    const x = input();
    const baseline = values(model.forward(x));
    const peft = getPeftModel(model, toyConfig({ target_modules: 'all-linear' }));
    peft.disableAdapters();
    peft.merge();
    expect(peft.adapterLayers()[0]![1].merged).toBe(true);
    expect(values(model.forward(x))).toEqual(baseline);
    expect(peft.adapterLayers().every(([, l]) => !l.merged)).toBe(true);
    x.dispose();
    peft.dispose();
  });

  it('unload() restores the base model exactly', () => {
    const model = new TinyLlamaForCausalLM({ layers: 1 });
    const x = input();
    const baseline = values(model.forward(x));
    const peft = getPeftModel(model, toyConfig({ target_modules: 'all-linear' }));
    peft.merge();
    peft.unload();
    expect(values(model.forward(x))).toEqual(baseline);
    x.dispose();
    model.dispose();
  });

  it('refuses a merge that would produce NaN and leaves the layer as it was', () => {
    const model = new TinyLlamaForCausalLM({ layers: 1 });
    const peft = getPeftModel(model, toyConfig({ target_modules: ['q_proj'] }));
    const layer = peft.adapterLayers()[0]![1];
    const u = (layer.adapter('default') as ToyLayer).u;
    const nan = tf.fill(u.shape, Number.NaN);
    u.assign(nan);
    nan.dispose();
    const before = layer.base;
    expect(() => peft.merge()).toThrow(MergeError);
    expect(layer.base).toBe(before);
    expect(layer.merged).toBe(false);
    peft.dispose();
  });
});

describe('modules_to_save and bias', () => {
  it('trains a full copy of the head per adapter and falls back to the original when disabled', () => {
    const model = new TinyLlamaForCausalLM({ layers: 1 });
    const x = input();
    const baseline = values(model.forward(x));
    const peft = getPeftModel(
      model,
      toyConfig({ target_modules: ['q_proj'], modules_to_save: ['lm_head'], scale: 0 }),
    );
    const head = model.getSubmodule('lm_head');
    expect(isModulesToSaveWrapper(head)).toBe(true);
    expect(peft.namedTrainableVariables().map(([p]) => p)).toContain(
      'lm_head.modules_to_save.default.weight',
    );
    // scale 0: the toy adapter is a no-op, and the head copy starts equal to the original.
    expect(maxAbsDiff(values(model.forward(x)), baseline)).toBeLessThan(1e-6);
    const weight = peft
      .namedTrainableVariables()
      .find(([p]) => p === 'lm_head.modules_to_save.default.weight')![1];
    const bumped = tf.add(weight, 0.1);
    weight.assign(bumped);
    bumped.dispose();
    const trained = values(model.forward(x));
    expect(maxAbsDiff(trained, baseline)).toBeGreaterThan(0.01);
    expect(peft.withAdaptersDisabled(() => values(model.forward(x)))).toEqual(baseline);
    expect([...peft.adapterStateDict().keys()]).toEqual([
      'base_model.model.model.layers.0.self_attn.q_proj.toy_u',
      'base_model.model.model.layers.0.self_attn.q_proj.toy_v.weight',
      'base_model.model.lm_head.weight',
      'base_model.toy_scale',
    ]);
    peft.mergeAndUnload();
    expect(isLinear(model.getSubmodule('lm_head'))).toBe(true);
    expect(maxAbsDiff(values(model.forward(x)), trained)).toBeLessThan(1e-5);
    x.dispose();
    model.dispose();
  });

  it('trains the biases of adapted layers with bias "toy_only" and keeps them after unload', () => {
    const model = new BiasedModel();
    const x = tf.tensor2d([[1, 2, 3, 4]]);
    const peft = getPeftModel(model, toyConfig({ target_modules: ['a'], bias: 'toy_only', scale: 0 }));
    const names = peft.namedTrainableVariables().map(([p]) => p);
    expect(names).toContain('a.bias');
    const bias = peft.namedTrainableVariables().find(([p]) => p === 'a.bias')![1];
    const shifted = tf.add(bias, 1);
    bias.assign(shifted);
    shifted.dispose();
    // W picks x0 and x1; bias [0, 1] shifted by 1.
    expect(values(model.child<Linear>('a').forward(x))).toEqual([1 + 1, 2 + 2]);
    expect([...peft.adapterStateDict().keys()]).toContain('base_model.model.a.base_layer.bias');
    peft.unload();
    const leaf = model.child<Linear>('a');
    expect(isLinear(leaf)).toBe(true);
    expect(values(leaf.forward(x))).toEqual([2, 4]);
    expect(Array.from(leaf.layer.bias!.dataSync())).toEqual([1, 2]);
    x.dispose();
    model.dispose();
  });

  it('refuses bias "all" when a non-adapted linear layer has a bias it cannot train', () => {
    const model = new BiasedModel();
    expect(() => getPeftModel(model, toyConfig({ target_modules: ['a'], bias: 'all' }))).toThrow(
      /bias "all" would train the biases of linear layers that are not adapted \(b\)/,
    );
    model.dispose();
  });
});

class BiasedModel extends Module {
  constructor() {
    super();
    // a: y = [x0 + 0, x1 + 1]; b: same weights with bias [5, 5]
    const w = new Float32Array([1, 0, 0, 0, 0, 1, 0, 0]);
    this.registerModule('a', new Linear(DenseLinear.fromArray(w, 2, 4, new Float32Array([0, 1]))));
    this.registerModule('b', new Linear(DenseLinear.fromArray(w, 2, 4, new Float32Array([5, 5]))));
  }
}

describe('memory', () => {
  it('does not leak tensors across forward, add/delete and merge/unmerge', () => {
    const model = new TinyLlamaForCausalLM({ layers: 1 });
    const x = input();
    const before = tf.memory().numTensors;
    const peft = getPeftModel(model, toyConfig({ target_modules: 'all-linear' }));
    for (let i = 0; i < 3; i++) {
      tf.dispose(model.forward(x));
      peft.addAdapter('extra', toyConfig({ target_modules: ['q_proj'] }));
      peft.merge(['default', 'extra']);
      peft.unmerge();
      peft.deleteAdapter('extra');
    }
    peft.unload();
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
    model.dispose();
  });
});
