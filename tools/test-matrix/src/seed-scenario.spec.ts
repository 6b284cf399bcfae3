// The failure this project started from: VeRA with target_modules "all-linear" on a bitsandbytes
// NF4 model with double quantization crashed sizing its projections from PACKED weight shapes
// (`expected shape (8388608, 1), got (22544384, 1)` on Llama-2-7B). Here the same setup, scaled down.

import {
  getPeftModel,
  type PeftModel,
  type PeftWarning,
  peftModelFromFiles,
  saveAdapterFiles,
  setWarningHandler,
} from '@peft/adapter-bridge';
import {
  type BaseLayerFactory,
  finiteDifferenceGradient,
  mseLoss,
  regressionTask,
  TinyLlamaForCausalLM,
  trainMse,
} from '@peft/adapter-bridge/testing';
import { setupBackend } from '@peft/backends';
import { type VeraLayer, type VeraSharedState, veraConfig } from '@peft/vera';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { denseRow, nf4DqRow } from './base-rows.js';

beforeAll(async () => {
  await setupBackend('cpu');
  setWarningHandler((_w: PeftWarning) => {});
});

const trees: [string, BaseLayerFactory][] = [
  ['NF4 with double quantization', nf4DqRow.makeLayer],
  ['dense', denseRow.makeLayer],
  [
    'mixed (dense attention, NF4 MLP and head)',
    (w, out, inF, path) => (path.includes('self_attn') ? denseRow : nf4DqRow).makeLayer(w, out, inF, path),
  ],
];

function outputs(peft: PeftModel, x: tf.Tensor): number[] {
  return tf.tidy(() => Array.from((peft.model as TinyLlamaForCausalLM).forward(x).dataSync()));
}

describe.each(trees)('VeRA all-linear on a Llama-shaped %s tree', (name, makeLayer) => {
  it('builds, sizes projections from logical dims, trains, and save -> load reproduces outputs exactly', async () => {
    const model = new TinyLlamaForCausalLM({ makeLayer });
    if (name.startsWith('NF4')) {
      // Packed storage differs per layer shape, as on Llama-2-7B (4096x4096 vs 11008x4096).
      const packed = (path: string) =>
        (
          model.getSubmodule(path) as unknown as {
            layer: { stateDict(p: string): Map<string, { shape: readonly number[] }> };
          }
        ).layer
          .stateDict('')
          .get('weight')!.shape;
      expect(packed('model.layers.0.self_attn.q_proj')).toEqual([128, 1]);
      expect(packed('model.layers.0.mlp.up_proj')).toEqual([192, 1]);
    }
    const peft = getPeftModel(model, veraConfig({ r: 8, target_modules: 'all-linear' }));
    const { projections } = peft.sharedState('default') as VeraSharedState;
    expect([projections.maxOut, projections.maxIn]).toEqual([24, 24]);
    expect(peft.adapterLayers()).toHaveLength(14);

    const { x, target } = regressionTask(model);
    const { losses, tensors } = trainMse(peft, x, target, 100, 0.05);
    expect(losses[99]!).toBeLessThan(0.5 * losses[0]!);
    expect(tensors[99]).toBe(tensors[1]);

    const expected = outputs(peft, x);
    const files = saveAdapterFiles(peft);
    const reloaded = await peftModelFromFiles(new TinyLlamaForCausalLM({ makeLayer }), files);
    expect(outputs(reloaded, x)).toEqual(expected);
    tf.dispose([x, target]);
    peft.dispose();
    reloaded.dispose();
  });
});

describe('VeRA gradients through an NF4 (double-quantized) base', () => {
  it('match finite differences for λ_b and λ_d of a rectangular MLP layer', () => {
    const model = new TinyLlamaForCausalLM({ layers: 1, makeLayer: nf4DqRow.makeLayer });
    const peft = getPeftModel(
      model,
      veraConfig({ r: 4, target_modules: ['down_proj', 'up_proj'], init_weights: false }),
    );
    const { x, target } = regressionTask(model, 3);
    const layer = peft.adapterLayers().find(([p]) => p.endsWith('down_proj'))![1];
    expect(layer.base.scheme).toBe('bnb4-nf4');
    const vera = layer.adapter('default') as VeraLayer;
    const loss = () => mseLoss(model, x, target);
    const { grads } = tf.variableGrads(loss, [vera.lambdaB, vera.lambdaD]);
    for (const v of [vera.lambdaB, vera.lambdaD]) {
      const analytic = grads[v.name]!.dataSync();
      const numeric = finiteDifferenceGradient(loss, v, 1e-2);
      const scale = Math.max(...Array.from(numeric, Math.abs));
      expect(scale).toBeGreaterThan(1e-4);
      for (const [i, n] of numeric.entries())
        expect(Math.abs(analytic[i]! - n)).toBeLessThan(2e-3 * scale + 1e-5);
    }
    tf.dispose([x, target, ...Object.values(grads)]);
    peft.dispose();
  });
});
