import { type Linear, Module, matMulBoth } from '@peft/core';
import * as tf from '@tensorflow/tfjs-core';
import type { AttentionMask } from '../attention-mask.js';
import type { LayerCache } from '../kv-cache.js';
import { applyRotary, type RotaryTables } from '../rope.js';
import { attendPerHead, splitsPerHead } from './head-matmul.js';
import { maskScores } from './mask-scores.js';
import { transposeAxes } from './transpose-axes.js';

export interface AttentionShape {
  readonly numHeads: number;
  readonly numKeyValueHeads: number;
  readonly headDim: number;
}

/** What every layer of one forward pass shares: rotary tables and the additive attention masks. */
export interface AttentionContext {
  readonly rotary: RotaryTables;
  /** The mask [B or 1, 1, groups·T, S] for a layer's sliding window (`null` = full causal attention). */
  mask(window: number | null): AttentionMask;
  /**
   * The same context built again, with new tensors, for one window: what a checkpointed layer reads
   * when it runs again in the backward pass, after this context's tensors are gone.
   */
  rebuild?(window: number | null): AttentionContext;
}

/**
 * Multi-head attention with grouped key/value heads (GQA) and RoPE, as transformers' LlamaAttention.
 *
 * Query heads are grouped under their key/value head instead of repeating K and V: head h uses
 * KV head ⌊h / groups⌋, so [B, H, T, d] reshapes to [B, kvH, groups·T, d] without copying and one
 * batched matmul per KV head covers its whole group.
 */
export class Attention extends Module {
  readonly shape: AttentionShape;
  readonly slidingWindow: number | null;

  constructor(
    projections: { q: Linear; k: Linear; v: Linear; o: Linear },
    shape: AttentionShape,
    slidingWindow: number | null,
  ) {
    super();
    this.shape = shape;
    this.slidingWindow = slidingWindow;
    this.registerModule('q_proj', projections.q);
    this.registerModule('k_proj', projections.k);
    this.registerModule('v_proj', projections.v);
    this.registerModule('o_proj', projections.o);
  }

  forward(x: tf.Tensor3D, context: AttentionContext, cache?: LayerCache): tf.Tensor3D {
    const { numHeads, numKeyValueHeads, headDim } = this.shape;
    const groups = numHeads / numKeyValueHeads;
    const [batch, time] = x.shape;
    return tf.tidy(() => {
      // [B, T, n·d] -> [B, n, T, d] (a reshape when decoding one token: transposeAxes).
      const heads = (y: tf.Tensor, n: number): tf.Tensor4D =>
        transposeAxes(tf.reshape(y, [batch, time, n, headDim]), [0, 2, 1, 3]);
      // Scaling q before the product is the same as scaling the scores, on T·d values instead of T·S.
      const q = tf.mul(
        applyRotary(heads(this.child<Linear>('q_proj').forward(x), numHeads), context.rotary),
        1 / Math.sqrt(headDim),
      );
      let k = applyRotary(heads(this.child<Linear>('k_proj').forward(x), numKeyValueHeads), context.rotary);
      let v = heads(this.child<Linear>('v_proj').forward(x), numKeyValueHeads);
      if (cache) [k, v] = cache.append(k, v);

      const grouped = tf.reshape(q, [batch, numKeyValueHeads, groups * time, headDim]) as tf.Tensor4D;
      const { bias, keep } = context.mask(this.slidingWindow);
      // Explicit transpose and matMulBoth: transpose flags take tfjs-backend-wasm off its fast path. Long
      // sequences run head by head (attendPerHead): wasm's batched matmul is off that path too.
      const kT = tf.transpose(k, [0, 1, 3, 2]) as tf.Tensor4D;
      let context4: tf.Tensor4D;
      if (splitsPerHead(groups * time)) {
        context4 = attendPerHead(grouped, kT, v, bias, keep);
      } else {
        const raw = matMulBoth<tf.Tensor4D>(grouped, kT);
        const scores = maskScores(raw, keep, bias);
        context4 = matMulBoth<tf.Tensor4D>(tf.softmax(scores), v);
      }
      const merged = tf.reshape(
        transposeAxes(tf.reshape(context4, [batch, numHeads, time, headDim]), [0, 2, 1, 3]),
        [batch, time, numHeads * headDim],
      );
      return this.child<Linear>('o_proj').forward(merged) as tf.Tensor3D;
    });
  }
}
