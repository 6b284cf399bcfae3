import { TargetModulesError, warn } from '@peft/adapter-bridge';
import {
  assertAdapterTensorFits,
  type PeftMethodV2,
  type SharedStateContext,
  type TargetLayerInfo,
} from '@peft/adapter-bridge/method';
import { ConfigError, fromFloat32, type HostTensor, toFloat32 } from '@peft/core';
import * as tf from '@tensorflow/tfjs-core';
import { parseVeraConfig, VERA_PEFT_TYPE, type VeraConfig, veraConfigToJson } from './config.js';
import { VeraLayer } from './layer.js';
import { veraTraining } from './training.js';
import { veraProjections } from './vera-projections.js';

/**
 * The shared random projections, held transposed for the forward pass: `aT` = vera_Aᵀ [maxIn, r],
 * `bT` = vera_Bᵀ [r, maxOut]. One pair is shared by every layer and, as in PEFT, by every adapter
 * (`refs` counts the adapters holding it).
 */
export interface VeraProjectionTensors {
  readonly aT: tf.Tensor2D;
  readonly bT: tf.Tensor2D;
  readonly r: number;
  readonly maxIn: number;
  readonly maxOut: number;
  refs: number;
  /**
   * Slices for the layer widths in use (`a:<in>` [in, r], `b:<out>` [r, out], and their transposes `A:<in>`
   * [r, in] and `B:<out>` [out, r], which the backward pass multiplies by), made once and shared by every
   * layer of that width: a model has a handful of widths, while slicing per call made two copies per layer
   * and call (the slice and the clone a gradient saves of it), over a gigabyte per step at SmolLM2's size.
   */
  readonly slices: Map<string, tf.Tensor2D>;
}

/** `aT` cut to `inFeatures` rows or `bT` cut to `outFeatures` columns, from the projections' shared cache. */
export function projectionSlice(p: VeraProjectionTensors, which: 'a' | 'b', width: number): tf.Tensor2D {
  if (which === 'a' && width === p.maxIn) return p.aT;
  if (which === 'b' && width === p.maxOut) return p.bT;
  const key = `${which}:${width}`;
  let slice = p.slices.get(key);
  if (!slice) {
    // Kept: made inside a layer's tidy scope, it must outlive it.
    slice = tf.keep(
      which === 'a' ? tf.slice(p.aT, [0, 0], [width, p.r]) : tf.slice(p.bT, [0, 0], [p.r, width]),
    );
    p.slices.set(key, slice);
  }
  return slice;
}

/**
 * The transpose of `projectionSlice(p, which, width)` (A_s [r, in] or B_s [out, r]), cached beside it: the backward
 * pass multiplies by it every step, and transposing the forward slice there copied every projection per layer.
 */
export function projectionSliceTransposed(
  p: VeraProjectionTensors,
  which: 'a' | 'b',
  width: number,
): tf.Tensor2D {
  const key = `${which.toUpperCase()}:${width}`;
  let transposed = p.slices.get(key);
  if (!transposed) {
    const forward = projectionSlice(p, which, width);
    transposed = tf.keep(tf.transpose(forward) as tf.Tensor2D);
    p.slices.set(key, transposed);
  }
  return transposed;
}

/** One adapter's handle on the projections (replaced when the adapter loads its own saved ones). */
export interface VeraSharedState {
  projections: VeraProjectionTensors;
}

/** PEFT's `_find_dim`: the element-wise max of the targeted layers' LOGICAL (out, in). */
export function findVeraDims(targets: readonly TargetLayerInfo[]): { maxIn: number; maxOut: number } {
  if (targets.length === 0) {
    throw new TargetModulesError(
      'no layers types compatible with VeRA were found; VeRA adapts linear layers only',
    );
  }
  return {
    maxIn: Math.max(...targets.map((t) => t.inFeatures)),
    maxOut: Math.max(...targets.map((t) => t.outFeatures)),
  };
}

function projectionTensors(
  a: Float32Array,
  b: Float32Array,
  r: number,
  maxIn: number,
  maxOut: number,
): VeraProjectionTensors {
  const { aT, bT } = tf.tidy(() => ({
    aT: tf.transpose(tf.tensor2d(a, [r, maxIn])) as tf.Tensor2D,
    bT: tf.transpose(tf.tensor2d(b, [maxOut, r])) as tf.Tensor2D,
  }));
  return { aT, bT, r, maxIn, maxOut, refs: 1, slices: new Map<string, tf.Tensor2D>() };
}

function release(p: VeraProjectionTensors): void {
  p.refs -= 1;
  if (p.refs === 0) {
    tf.dispose([p.aT, p.bT, ...p.slices.values()]);
    p.slices.clear();
  }
}

/** `vera_A` [r, maxIn] and `vera_B` [maxOut, r] as PEFT stores them (row-major float32). */
export function projectionArrays(p: VeraProjectionTensors): { A: Float32Array; B: Float32Array } {
  return tf.tidy(() => ({
    A: tf.transpose(p.aT).dataSync() as Float32Array,
    B: tf.transpose(p.bT).dataSync() as Float32Array,
  }));
}

function createSharedState(context: SharedStateContext<VeraConfig, VeraSharedState>): VeraSharedState {
  const { config, targets, existing } = context;
  const first = [...existing.values()][0];
  if (first) {
    // As in PEFT, later adapters reuse the first adapter's projections, which must cover them.
    const p = first.projections;
    const { maxIn, maxOut } = findVeraDims(targets);
    if (p.maxIn < maxIn || p.maxOut < maxOut) {
      throw new ConfigError(
        `VeRA adapter "${context.adapterName}" needs projections of at least (out ${maxOut}, in ${maxIn}), but the ` +
          `shared vera_A/vera_B (fixed by the first adapter) cover (out ${p.maxOut}, in ${p.maxIn}); ` +
          'add the adapter with the widest targets first',
      );
    }
    if (p.r !== config.r) {
      // PEFT raises for a larger r and breaks at forward time for a smaller one; refuse both here.
      throw new ConfigError(
        `VeRA adapter "${context.adapterName}" has r ${config.r}, but the shared projections have rank ${p.r}; ` +
          'every VeRA adapter on a model must use the rank of the first one',
      );
    }
    p.refs += 1;
    return { projections: p };
  }
  if (!config.save_projection) {
    warn(
      'VERA_PROJECTION_FROM_PRNG',
      'VeRA save_projection is false: vera_A and vera_B are not saved and are regenerated from ' +
        `projection_prng_key ${config.projection_prng_key} (mode ${config.projection_prng_mode}); this reproduces ` +
        "PyTorch's values only on a CPU kernel of the same mode. Set save_projection to true to be safe.",
    );
  }
  const { maxIn, maxOut } = findVeraDims(targets);
  // Before drawing: r comes from the config file and the projections are r x the widest layer.
  const where = `VeRA adapter "${context.adapterName}"`;
  assertAdapterTensorFits({ tensor: 'vera_A', shape: [config.r, maxIn], field: 'r', value: config.r, where });
  assertAdapterTensorFits({
    tensor: 'vera_B',
    shape: [maxOut, config.r],
    field: 'r',
    value: config.r,
    where,
  });
  const { A, B } = veraProjections({
    seed: config.projection_prng_key,
    r: config.r,
    maxIn,
    maxOut,
    mode: config.projection_prng_mode,
  });
  return { projections: projectionTensors(A, B, config.r, maxIn, maxOut) };
}

function checkNewAdapter(config: VeraConfig, existing: ReadonlyMap<string, VeraConfig>): void {
  for (const [name, other] of existing) {
    if (other.projection_prng_key !== config.projection_prng_key) {
      throw new ConfigError(
        `VeRA PRNG initialisation key must be the same for all adapters: got ${config.projection_prng_key}, ` +
          `adapter "${name}" has ${other.projection_prng_key}`,
      );
    }
    if (other.save_projection !== config.save_projection) {
      throw new ConfigError(
        `VeRA projection weights must be saved for all adapters or none: got save_projection ` +
          `${config.save_projection}, adapter "${name}" has ${other.save_projection}`,
      );
    }
  }
}

const IGNORED_PROJECTION =
  'save_projection is false, so the projections are regenerated from projection_prng_key (as in PEFT)';

/** VeRA as a `PeftMethod` (PEFT's `VeraModel`: shared projections, layer creation, saved keys). */
export const veraMethod: PeftMethodV2<VeraConfig, VeraSharedState> = {
  specificationVersion: 'v2',
  peftType: VERA_PEFT_TYPE,
  name: 'vera',
  packageName: '@peft/vera',
  prefix: 'vera_lambda_',
  biasOnly: 'vera_only',
  // PEFT copies LoRA's per-model defaults for VeRA (src/peft/utils/constants.py).
  defaultTargetModules: {
    llama: ['q_proj', 'v_proj'],
    mistral: ['q_proj', 'v_proj'],
    mixtral: ['q_proj', 'v_proj'],
    qwen2: ['q_proj', 'v_proj'],
    gemma: ['q_proj', 'v_proj'],
    gemma2: ['q_proj', 'v_proj'],
    phi: ['q_proj', 'v_proj'],
  },
  parseConfig: parseVeraConfig,
  configToJson: veraConfigToJson,
  checkNewAdapter,
  createSharedState,
  createLayer: (context) =>
    new VeraLayer(context.inFeatures, context.outFeatures, context.config, context.shared),
  sharedStateShapes: (shared, config) =>
    config.save_projection
      ? new Map([
          ['vera_A', [shared.projections.r, shared.projections.maxIn]],
          ['vera_B', [shared.projections.maxOut, shared.projections.r]],
        ])
      : new Map(),
  saveSharedState(shared, config) {
    const out = new Map<string, HostTensor>();
    if (!config.save_projection) return out;
    const p = shared.projections;
    const { A, B } = projectionArrays(p);
    out.set('vera_A', fromFloat32(A, [p.r, p.maxIn], 'F32'));
    out.set('vera_B', fromFloat32(B, [p.maxOut, p.r], 'F32'));
    return out;
  },
  loadSharedState(shared, _config, entries) {
    const p = shared.projections;
    const a = entries.get('vera_A');
    const b = entries.get('vera_B');
    if (!a || !b) return;
    const loaded = projectionTensors(toFloat32(a), toFloat32(b), p.r, p.maxIn, p.maxOut);
    release(p);
    shared.projections = loaded;
  },
  ignoredSharedKeys: (config) =>
    config.save_projection
      ? new Map()
      : new Map([
          ['vera_A', IGNORED_PROJECTION],
          ['vera_B', IGNORED_PROJECTION],
        ]),
  disposeSharedState: (shared) => release(shared.projections),
  training: veraTraining,
};
