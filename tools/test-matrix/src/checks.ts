import {
  adapterRandomState,
  getPeftModel,
  isAdapterLayer,
  type PeftModel,
  peftModelFromFiles,
  restoreAdapterRandom,
  saveAdapterFiles,
  seedAdapterRandom,
} from '@peft/adapter-bridge';
import {
  finiteDifferenceGradient,
  mseLoss,
  regressionTask,
  TinyLlamaForCausalLM,
  trainMse,
} from '@peft/adapter-bridge/testing';
import { isLinear, parseSafetensors } from '@peft/core';
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'vitest';
import type { BaseLayerRow, MethodRow } from './rows.js';

/** The layers every check adapts: square attention, narrow k/v, and the MLP rectangular both ways. */
export const MATRIX_TARGETS = ['q_proj', 'k_proj', 'o_proj', 'up_proj', 'down_proj'];

export interface Fixture {
  readonly model: TinyLlamaForCausalLM;
  readonly peft: PeftModel;
  readonly x: tf.Tensor2D;
  readonly target: tf.Tensor;
  dispose(): void;
}

export function fixture(method: MethodRow, base: BaseLayerRow, layers = 1): Fixture {
  const model = new TinyLlamaForCausalLM({ layers, makeLayer: base.makeLayer });
  // A method's random init (VeRA's lambda_d with init_weights false, LoRA's A) comes from a seeded stream, so
  // every cell checks the same numbers on every run.
  const outside = adapterRandomState();
  seedAdapterRandom(0);
  let peft: PeftModel;
  try {
    peft = getPeftModel(model, method.config(MATRIX_TARGETS));
  } finally {
    restoreAdapterRandom(outside);
  }
  const { x, target } = regressionTask(model, 4);
  return {
    model,
    peft,
    x,
    target,
    dispose() {
      tf.dispose([x, target]);
      peft.dispose();
    },
  };
}

function values(t: tf.Tensor): Float32Array {
  const v = t.dataSync() as Float32Array;
  t.dispose();
  return v;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/**
 * Forward: on every adapted layer, the adapter's output equals base(x) + x·ΔWᵀ with the method's own
 * ΔW (its forward and its merge math agree on this base), the base keeps its scheme and LOGICAL
 * shape, and the adapter changes the model's output.
 */
export function checkForward(method: MethodRow, base: BaseLayerRow): void {
  const f = fixture(method, base);
  expect(f.peft.adapterLayers()).toHaveLength(MATRIX_TARGETS.length);
  for (const [path, layer] of f.peft.adapterLayers()) {
    expect(layer.base.scheme, path).toBe(base.scheme);
    const x = tf.tidy(() => tf.sin(tf.reshape(tf.range(0, 3 * layer.inFeatures), [3, layer.inFeatures])));
    const got = values(layer.forward(x));
    const expected = values(
      tf.tidy(() => {
        const dw = layer.adapter('default')!.deltaWeight();
        expect(dw.shape).toEqual([layer.outFeatures, layer.inFeatures]);
        return tf.add(layer.baseLayer.forward(x), tf.matMul(x, dw, false, true));
      }),
    );
    expect(maxAbsDiff(got, expected), path).toBeLessThan(
      1e-4 * Math.max(1, ...Array.from(expected, Math.abs)),
    );
    x.dispose();
  }
  const adapted = values(f.model.forward(f.x));
  const plain = f.peft.withAdaptersDisabled(() => values(f.model.forward(f.x)));
  expect(maxAbsDiff(adapted, plain)).toBeGreaterThan(1e-3);
  f.dispose();
}

/**
 * Backward: every trainable variable gets a finite, non-zero gradient through the (possibly 4-bit)
 * base, the gradient of the first adapter tensor agrees with finite differences, and a few Adam
 * steps lower the loss without leaking tensors.
 */
export function checkBackward(method: MethodRow, base: BaseLayerRow): void {
  const f = fixture(method, base);
  const vars = f.peft.trainableVariables();
  expect(vars.length).toBeGreaterThan(0);
  const loss = () => mseLoss(f.model, f.x, f.target);
  const { grads } = tf.variableGrads(loss, vars);
  for (const v of vars) {
    const g = grads[v.name]!.dataSync();
    expect(Array.from(g).every(Number.isFinite), v.name).toBe(true);
    expect(Math.max(...Array.from(g, Math.abs)), v.name).toBeGreaterThan(0);
  }
  const probe = vars[0]!;
  const analytic = grads[probe.name]!.dataSync();
  const numeric = finiteDifferenceGradient(loss, probe, 1e-2);
  const scale = Math.max(...Array.from(numeric, Math.abs));
  expect(maxAbsDiff(analytic, numeric)).toBeLessThan(5e-3 * scale + 1e-5);
  tf.dispose(Object.values(grads));

  const { losses, tensors } = trainMse(f.peft, f.x, f.target, 8, 0.02);
  expect(losses[7]!).toBeLessThan(losses[0]!);
  expect(tensors[7]).toBe(tensors[1]);
  f.dispose();
}

/** Save/load: after training, the PEFT files load into a fresh model of the same base and reproduce it exactly. */
export async function checkSaveLoad(method: MethodRow, base: BaseLayerRow): Promise<void> {
  const f = fixture(method, base);
  trainMse(f.peft, f.x, f.target, 3, 0.02);
  const expected = values(f.model.forward(f.x));
  const files = saveAdapterFiles(f.peft);
  const st = parseSafetensors(files.get('adapter_model.safetensors')!);
  expect(Object.fromEntries(st.metadata ?? [])).toEqual({ format: 'pt' });
  expect(st.keys().every((k) => k.startsWith('base_model.'))).toBe(true);
  expect(JSON.parse(new TextDecoder().decode(files.get('adapter_config.json'))).peft_type).toBe(
    method.peftType,
  );

  const fresh = new TinyLlamaForCausalLM({ layers: 1, makeLayer: base.makeLayer });
  const loaded = await peftModelFromFiles(fresh, files);
  expect(Array.from(values(fresh.forward(f.x)))).toEqual(Array.from(expected));
  loaded.dispose();
  f.dispose();
}

/**
 * Merge/unmerge: each merged weight is the dequantized base + ΔW (exactly for dense; within the
 * format's rounding, and closer to it than the unmerged weight, for quantized bases), the scheme is
 * kept, unmerge restores the exact original outputs, and mergeAndUnload leaves plain linear leaves.
 */
export function checkMergeUnmerge(method: MethodRow, base: BaseLayerRow, warningCodes: () => string[]): void {
  const f = fixture(method, base);
  const adapted = values(f.model.forward(f.x));
  const targets = new Map<string, { w: Float32Array; dw: Float32Array }>();
  for (const [path, layer] of f.peft.adapterLayers()) {
    targets.set(path, {
      w: values(layer.base.dequantize()),
      dw: values(layer.adapter('default')!.deltaWeight()),
    });
  }
  f.peft.merge();
  expect(warningCodes().includes('LOSSY_MERGE')).toBe(base.lossy);
  for (const [path, layer] of f.peft.adapterLayers()) {
    expect(layer.base.scheme).toBe(base.scheme);
    const { w, dw } = targets.get(path)!;
    const merged = values(layer.base.dequantize());
    const wanted = w.map((v, i) => v + dw[i]!);
    if (!base.lossy) {
      expect(maxAbsDiff(merged, wanted), path).toBeLessThan(1e-6);
    } else {
      const meanErr = merged.reduce((s, v, i) => s + Math.abs(v - wanted[i]!), 0) / merged.length;
      const meanDelta = dw.reduce((s, v) => s + Math.abs(v), 0) / dw.length;
      expect(meanErr, path).toBeLessThan(0.5 * meanDelta);
    }
  }
  const mergedOut = values(f.model.forward(f.x));
  if (!base.lossy) expect(maxAbsDiff(mergedOut, adapted)).toBeLessThan(1e-4);
  f.peft.unmerge();
  expect(Array.from(values(f.model.forward(f.x)))).toEqual(Array.from(adapted));

  f.peft.mergeAndUnload();
  const leaves = [...f.model.namedModules()];
  expect(leaves.some(([, m]) => isAdapterLayer(m))).toBe(false);
  for (const name of ['model.layers.0.self_attn.q_proj', 'model.layers.0.mlp.down_proj']) {
    const leaf = f.model.getSubmodule(name);
    expect(isLinear(leaf) && leaf.layer.scheme).toBe(base.scheme);
  }
  if (!base.lossy) expect(maxAbsDiff(values(f.model.forward(f.x)), adapted)).toBeLessThan(1e-4);
  tf.dispose([f.x, f.target]);
  f.model.dispose();
}
