import * as tf from '@tensorflow/tfjs-core';
import type { LlamaConfig } from './config.js';

/**
 * RoPE inverse frequencies θ_i = 1 / base^(2i/d) after `rope_scaling`, in float64.
 *
 * `seqLen` matters only for "dynamic" (NTK-aware) scaling, whose base grows once a forward pass
 * reaches past `max_position_embeddings`. It is the largest position of the call + 1, so the result
 * is a function of the call alone; transformers keeps it as module state instead, which differs only
 * when a shorter call follows a longer one beyond the trained length.
 */
export function inverseFrequencies(config: LlamaConfig, seqLen: number): Float64Array {
  const dim = config.headDim;
  const scaling = config.ropeScaling;
  let base = config.ropeTheta;
  if (scaling.type === 'dynamic') {
    const len = Math.max(seqLen, config.maxPositionEmbeddings);
    base *=
      ((scaling.factor * len) / config.maxPositionEmbeddings - (scaling.factor - 1)) ** (dim / (dim - 2));
  }
  const invFreq = new Float64Array(dim / 2);
  for (let i = 0; i < invFreq.length; i++) invFreq[i] = 1 / base ** ((2 * i) / dim);

  if (scaling.type === 'linear') {
    // Scaling positions by 1/factor is the same as scaling every frequency by it.
    for (let i = 0; i < invFreq.length; i++) invFreq[i]! /= scaling.factor;
  } else if (scaling.type === 'llama3') {
    const { factor, lowFreqFactor, highFreqFactor, originalMaxPositionEmbeddings: oldLen } = scaling;
    const lowFreqWavelen = oldLen / lowFreqFactor;
    const highFreqWavelen = oldLen / highFreqFactor;
    for (let i = 0; i < invFreq.length; i++) {
      const f = invFreq[i]!;
      const wavelen = (2 * Math.PI) / f;
      if (wavelen > lowFreqWavelen) {
        invFreq[i] = f / factor;
      } else if (wavelen >= highFreqWavelen) {
        const smooth = (oldLen / wavelen - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
        invFreq[i] = ((1 - smooth) * f) / factor + smooth * f;
      }
    }
  }
  return invFreq;
}

/**
 * cos and sin of position·θ laid out for `applyRotary`, [B, 1, T, d], broadcast over heads: `cos` repeats the d/2
 * angles in both halves, `sin` holds -sin in the first half and +sin in the second.
 */
export interface RotaryTables {
  readonly cos: tf.Tensor4D;
  readonly sin: tf.Tensor4D;
}

/** Tables for `positions` (row-major [batch, time]); angles are computed in float64 on the host. */
export function rotaryTables(
  config: LlamaConfig,
  positions: Int32Array,
  batch: number,
  time: number,
): RotaryTables {
  let maxPosition = 0;
  for (const p of positions) maxPosition = Math.max(maxPosition, p);
  const invFreq = inverseFrequencies(config, maxPosition + 1);
  const half = invFreq.length;
  const dim = 2 * half;
  const cos = new Float32Array(batch * time * dim);
  const sin = new Float32Array(batch * time * dim);
  for (let bt = 0; bt < batch * time; bt++) {
    const p = positions[bt]!;
    for (let i = 0; i < half; i++) {
      const angle = p * invFreq[i]!;
      const c = Math.fround(Math.cos(angle));
      const s = Math.fround(Math.sin(angle));
      cos[bt * dim + i] = c;
      cos[bt * dim + half + i] = c;
      sin[bt * dim + i] = -s;
      sin[bt * dim + half + i] = s;
    }
  }
  return {
    cos: tf.tensor4d(cos, [batch, 1, time, dim]),
    sin: tf.tensor4d(sin, [batch, 1, time, dim]),
  };
}

/**
 * Rotates x [B, heads, T, d] in the half-split layout transformers uses (`rotate_half`): the pair
 * for dimension i is (i, i + d/2), not adjacent dimensions as in Meta's original checkpoints.
 *
 * x·cos + swap_halves(x)·sin with the signed tables gives (x1·cos - x2·sin, x2·cos + x1·sin) bit for bit as the
 * half-by-half formula does (a + (-b) is a - b exactly in IEEE arithmetic), in 5 kernels instead of 8: rotary
 * runs on q and k of every layer for every generated token, where the cost is per kernel call, not per element.
 */
export function applyRotary(x: tf.Tensor4D, tables: RotaryTables): tf.Tensor4D {
  return tf.tidy(() => {
    const [x1, x2] = tf.split(x, 2, 3) as [tf.Tensor4D, tf.Tensor4D];
    const swapped = tf.concat([x2, x1], 3);
    return tf.add(tf.mul(x, tables.cos), tf.mul(swapped, tables.sin)) as tf.Tensor4D;
  });
}
