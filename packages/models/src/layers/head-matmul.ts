import { matMulBoth } from '@peft/core';
import * as tf from '@tensorflow/tfjs-core';
import { maskScores } from './mask-scores.js';

/**
 * From this many query rows per KV head (groups · T), attention runs head by head on 2-D products, which beats one
 * batched product on tfjs-backend-wasm, whose batched matmul leaves the XNNPACK path. Measured on SmolLM2 shapes
 * (3 KV heads, head dim 64), scores q·kᵀ: 384 rows 6.6 -> 5.2 ms, 1536 rows 214.9 -> 23.5 ms; below 256 rows (and
 * in every decoding step) the batched call wins.
 */
export const PER_HEAD_MIN_ROWS = 256;

/** Whether attention with `rows` query rows per KV head runs head by head: on wasm, from PER_HEAD_MIN_ROWS on. */
export function splitsPerHead(rows: number): boolean {
  return rows >= PER_HEAD_MIN_ROWS && tf.getBackend() === 'wasm';
}

/**
 * softmax(q·kᵀ ⊙ keep + bias)·v for q [B, H, M, d], kT [B, H, d, S], v [B, H, S, d] and masks [B or 1, 1, M, S],
 * computed for each (batch row, head) on 2-D tensors, so the [M, S] scores and probabilities of one head never
 * need splitting out of a batched tensor (wasm's slicing copies them element by element). Returns [B, H, M, d],
 * equal to the batched computation up to float rounding; differentiable in q, kT and v.
 */
export function attendPerHead(
  q: tf.Tensor4D,
  kT: tf.Tensor4D,
  v: tf.Tensor4D,
  bias: tf.Tensor4D,
  keep: tf.Tensor4D | null,
): tf.Tensor4D {
  return tf.tidy(() => {
    const [batch, heads, rows, dim] = q.shape;
    const keys = kT.shape[3];
    const qs = tf.unstack(tf.reshape(q, [batch * heads, rows, dim])) as tf.Tensor2D[];
    const ks = tf.unstack(tf.reshape(kT, [batch * heads, dim, keys])) as tf.Tensor2D[];
    const vs = tf.unstack(tf.reshape(v, [batch * heads, keys, dim])) as tf.Tensor2D[];
    const rowOf = (mask: tf.Tensor4D, b: number): tf.Tensor2D =>
      tf.reshape(mask.shape[0] === 1 ? mask : tf.slice(mask, [b, 0, 0, 0], [1, 1, rows, keys]), [rows, keys]);
    const contexts: tf.Tensor2D[] = [];
    for (let b = 0; b < batch; b++) {
      const biasRow = rowOf(bias, b);
      const keepRow = keep ? rowOf(keep, b) : null;
      for (let h = 0; h < heads; h++) {
        const i = b * heads + h;
        const raw = matMulBoth<tf.Tensor2D>(qs[i]!, ks[i]!);
        const scores = maskScores(raw, keepRow, biasRow);
        contexts.push(matMulBoth<tf.Tensor2D>(tf.softmax(scores), vs[i]!));
      }
    }
    return tf.reshape(tf.stack(contexts), [batch, heads, rows, dim]) as tf.Tensor4D;
  });
}
