import { frugalAdd, Module } from '@peft/core';
import * as tf from '@tensorflow/tfjs-core';
import type { LayerCache } from '../kv-cache.js';
import type { Attention, AttentionContext } from './attention.js';
import type { Mlp } from './mlp.js';
import type { RMSNorm } from './rms-norm.js';

/** One pre-norm transformer block: x + attn(norm(x)), then + mlp(norm(x)). */
export class DecoderLayer extends Module {
  constructor(parts: { inputNorm: RMSNorm; attention: Attention; postAttentionNorm: RMSNorm; mlp: Mlp }) {
    super();
    this.registerModule('self_attn', parts.attention);
    this.registerModule('mlp', parts.mlp);
    this.registerModule('input_layernorm', parts.inputNorm);
    this.registerModule('post_attention_layernorm', parts.postAttentionNorm);
  }

  forward(x: tf.Tensor3D, context: AttentionContext, cache?: LayerCache): tf.Tensor3D {
    return tf.tidy(() => {
      const normed = this.child<RMSNorm>('input_layernorm').forward(x) as tf.Tensor3D;
      // Residual sums keep neither operand for the backward pass (frugalAdd).
      const attended = frugalAdd(x, this.child<Attention>('self_attn').forward(normed, context, cache));
      const normed2 = this.child<RMSNorm>('post_attention_layernorm').forward(attended) as tf.Tensor3D;
      return frugalAdd(attended, this.child<Mlp>('mlp').forward(normed2));
    });
  }
}
