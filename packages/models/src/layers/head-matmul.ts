import { matMulBoth } from '@peft/core';
import * as tf from '@tensorflow/tfjs-core';

/**
 * From this many rows per head (query rows: groups · T), one 2-D product per (batch, head) beats one batched
 * product on tfjs-backend-wasm, whose batched matmul leaves the XNNPACK path. Measured on SmolLM2 shapes (3 KV heads,
 * head dim 64), scores q·kᵀ: 384 rows 6.6 -> 5.2 ms, 1536 rows 214.9 -> 23.5 ms; below 256 rows the batched call wins.
 */
export const PER_HEAD_MIN_ROWS = 256;

/** Whether `attentionMatMul` splits a product with `rows` rows per head: on wasm, from PER_HEAD_MIN_ROWS on. */
export function splitsPerHead(rows: number): boolean {
  return rows >= PER_HEAD_MIN_ROWS && tf.getBackend() === 'wasm';
}

/**
 * a [B, H, M, K] · b [B, H, K, N] with gradients for both, as `matMulBoth`, run as B·H separate 2-D products when
 * `perHead` (default: `splitsPerHead(M)`). Results may differ from the batched product by float rounding only.
 */
export function attentionMatMul(
  a: tf.Tensor4D,
  b: tf.Tensor4D,
  perHead: boolean = splitsPerHead(a.shape[2]),
): tf.Tensor4D {
  if (!perHead) return matMulBoth<tf.Tensor4D>(a, b);
  return tf.tidy(() => {
    const [batch, heads, rows, inner] = a.shape;
    const columns = b.shape[3];
    const as = tf.unstack(tf.reshape(a, [batch * heads, rows, inner])) as tf.Tensor2D[];
    const bs = tf.unstack(tf.reshape(b, [batch * heads, inner, columns])) as tf.Tensor2D[];
    const products = as.map((x, i) => matMulBoth<tf.Tensor2D>(x, bs[i]!));
    return tf.reshape(tf.stack(products), [batch, heads, rows, columns]) as tf.Tensor4D;
  });
}
