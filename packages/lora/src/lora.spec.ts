import {
  getPeftModel,
  type PeftModel,
  type PeftWarning,
  peftModelFromFiles,
  restoreAdapterRandom,
  saveAdapterFiles,
  seedAdapterRandom,
  setWarningHandler,
} from '@peft/adapter-bridge';
import { Int8RowsLinear, regressionTask, TinyLlamaForCausalLM, trainMse } from '@peft/adapter-bridge/testing';
import { DenseLinear, parseSafetensors } from '@peft/core';
import * as tf from '@tensorflow/tfjs-core';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LoraLayer, loraConfig } from './index.js';
import { useCpuBackend } from './test-support/tf-cpu.js';

beforeAll(useCpuBackend);
const warnings: PeftWarning[] = [];
setWarningHandler((w) => warnings.push(w));
afterEach(() => {
  warnings.length = 0;
});

const trees = {
  dense: () => new TinyLlamaForCausalLM(),
  mixed: () =>
    new TinyLlamaForCausalLM({
      makeLayer: (w, out, inF, path) =>
        path.includes('self_attn')
          ? DenseLinear.fromArray(w, out, inF)
          : Int8RowsLinear.quantize(w, out, inF),
    }),
};

function outputs(peft: PeftModel, x: tf.Tensor): number[] {
  return tf.tidy(() => Array.from((peft.model as TinyLlamaForCausalLM).forward(x).dataSync()));
}

describe('LoraLayer', () => {
  it('computes h = W0 x + (alpha / r) B A x, or alpha / sqrt(r) with rsLoRA', () => {
    for (const useRslora of [false, true]) {
      const layer = new LoraLayer(3, 2, { r: 4, alpha: 6, dropout: 0, useRslora, init: false });
      const scaling = useRslora ? 6 / 2 : 6 / 4;
      expect(layer.scaling).toBe(scaling);
      const A = layer.loraA.arraySync();
      const B = layer.loraB.arraySync();
      const x = [0.5, -1, 2];
      const base = tf.tensor2d([[10, 20]]);
      const y = layer.apply(tf.tensor2d([x]), base).dataSync();
      for (let o = 0; o < 2; o++) {
        let d = 0;
        for (let k = 0; k < 4; k++) d += B[o]![k]! * A[k]!.reduce((s, a, i) => s + a * x[i]!, 0);
        expect(y[o]).toBeCloseTo([10, 20][o]! + scaling * d, 5);
      }
      const dw = layer.deltaWeight().arraySync();
      for (let o = 0; o < 2; o++) {
        for (let i = 0; i < 3; i++) {
          expect(dw[o]![i]).toBeCloseTo(scaling * B[o]!.reduce((s, b, k) => s + b * A[k]![i]!, 0), 5);
        }
      }
      base.dispose();
      layer.dispose();
    }
  });

  it('initialises as PEFT does: B = 0 with A Kaiming-uniform (bound 1/sqrt(in)) or gaussian (std 1/r)', () => {
    const kaiming = new LoraLayer(400, 3, { r: 16, alpha: 8, dropout: 0, useRslora: false, init: true });
    const a = kaiming.loraA.dataSync();
    expect(Math.max(...Array.from(a, Math.abs))).toBeLessThanOrEqual(1 / Math.sqrt(400));
    expect(Math.max(...Array.from(a, Math.abs))).toBeGreaterThan(0.9 / Math.sqrt(400));
    expect(Array.from(kaiming.loraB.dataSync()).every((v) => v === 0)).toBe(true);
    const gaussian = new LoraLayer(400, 3, {
      r: 16,
      alpha: 8,
      dropout: 0,
      useRslora: false,
      init: 'gaussian',
    });
    const g = Array.from(gaussian.loraA.dataSync());
    const std = Math.sqrt(g.reduce((s, v) => s + v * v, 0) / g.length);
    expect(std).toBeGreaterThan(0.9 / 16);
    expect(std).toBeLessThan(1.1 / 16);
    const random = new LoraLayer(400, 3, { r: 16, alpha: 8, dropout: 0, useRslora: false, init: false });
    expect(Array.from(random.loraB.dataSync()).some((v) => v !== 0)).toBe(true);
    for (const l of [kaiming, gaussian, random]) l.dispose();
  });
});

describe('LoRA randomness', () => {
  afterEach(() => restoreAdapterRandom(null));

  /** Initial A and B, then three train-mode outputs (each with its own dropout mask). */
  function run(seed: number): number[][] {
    seedAdapterRandom(seed);
    const layer = new LoraLayer(16, 8, { r: 4, alpha: 8, dropout: 0.5, useRslora: false, init: false });
    layer.train();
    const x = tf.ones([2, 16]);
    const result = tf.tidy(() => [
      Array.from(layer.loraA.dataSync()),
      Array.from(layer.loraB.dataSync()),
      ...[0, 1, 2].map(() => Array.from(layer.apply(x, tf.zeros([2, 8])).dataSync())),
    ]);
    tf.dispose(x);
    layer.dispose();
    return result;
  }

  it('draws initial weights and dropout masks from the seeded adapter stream: same seed, same run', () => {
    const first = run(5);
    expect(run(5)).toEqual(first);
    expect(run(6)[0]).not.toEqual(first[0]);
    // Each step draws a fresh mask.
    expect(first[2]).not.toEqual(first[3]);
  });
});

describe.each(Object.entries(trees))('LoRA on the %s Llama-shaped tree', (_name, makeTree) => {
  it('saves lora_A/lora_B under PEFT keys, trains, and reloads exactly', async () => {
    const model = makeTree();
    const peft = getPeftModel(
      model,
      loraConfig({ r: 4, lora_alpha: 8, target_modules: 'all-linear', rank_pattern: { down_proj: 2 } }),
    );
    const { x, target } = regressionTask(model);
    const before = outputs(peft, x);
    expect(before).toEqual(peft.withAdaptersDisabled(() => outputs(peft, x)));
    const { losses, tensors } = trainMse(peft, x, target, 60, 0.02);
    expect(losses[59]!).toBeLessThan(losses[0]! * 0.5);
    expect(tensors[59]).toBe(tensors[1]);

    const files = saveAdapterFiles(peft);
    const st = parseSafetensors(files.get('adapter_model.safetensors')!);
    expect(st.info('base_model.model.model.layers.0.self_attn.k_proj.lora_A.weight').shape).toEqual([4, 16]);
    expect(st.info('base_model.model.model.layers.0.self_attn.k_proj.lora_B.weight').shape).toEqual([8, 4]);
    expect(st.info('base_model.model.model.layers.1.mlp.down_proj.lora_A.weight').shape).toEqual([2, 24]);
    expect(st.keys()).toHaveLength(28);

    const expected = outputs(peft, x);
    const reloaded = await peftModelFromFiles(makeTree(), files);
    expect(outputs(reloaded, x)).toEqual(expected);
    tf.dispose([x, target]);
    peft.dispose();
    reloaded.dispose();
  });

  it('merges (exactly on dense layers, with a lossy-merge warning on quantized ones) and unmerges', () => {
    const model = makeTree();
    const peft = getPeftModel(
      model,
      loraConfig({ r: 4, target_modules: ['up_proj', 'q_proj'], init_lora_weights: false }),
    );
    const { x } = regressionTask(model, 2);
    const adapted = outputs(peft, x);
    peft.merge();
    const diff = Math.max(...outputs(peft, x).map((v, i) => Math.abs(v - adapted[i]!)));
    const quantized = _name === 'mixed';
    expect(warnings.some((w) => w.code === 'LOSSY_MERGE')).toBe(quantized);
    expect(diff).toBeLessThan(quantized ? 0.2 : 1e-4);
    peft.unmerge();
    expect(outputs(peft, x)).toEqual(adapted);
    x.dispose();
    peft.dispose();
  });
});

describe('LoRA targeting', () => {
  it('honours exclude_modules and the llama default target_modules', () => {
    const model = new TinyLlamaForCausalLM();
    const peft = getPeftModel(
      model,
      loraConfig({ target_modules: ['q_proj', 'v_proj'], exclude_modules: '.*layers\\.1\\..*' }),
    );
    expect(peft.adapterLayers().map(([p]) => p)).toEqual([
      'model.layers.0.self_attn.q_proj',
      'model.layers.0.self_attn.v_proj',
    ]);
    peft.dispose();
    const defaults = getPeftModel(new TinyLlamaForCausalLM({ layers: 1 }), loraConfig());
    expect(defaults.adapterLayers().map(([p]) => p)).toEqual([
      'model.layers.0.self_attn.q_proj',
      'model.layers.0.self_attn.v_proj',
    ]);
    expect(defaults.peftConfig.get('default')!.target_modules).toEqual(['q_proj', 'v_proj']);
    defaults.dispose();
  });
});
