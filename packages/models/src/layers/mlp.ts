import { type Linear, Module } from '@peft/core';
import * as tf from '@tensorflow/tfjs-core';

/** The SwiGLU feed-forward block: down_proj(silu(gate_proj(x)) · up_proj(x)). */
export class Mlp extends Module {
  constructor(projections: { gate: Linear; up: Linear; down: Linear }) {
    super();
    this.registerModule('gate_proj', projections.gate);
    this.registerModule('up_proj', projections.up);
    this.registerModule('down_proj', projections.down);
  }

  forward(x: tf.Tensor3D): tf.Tensor3D {
    return tf.tidy(() => {
      const gate = this.child<Linear>('gate_proj').forward(x);
      const up = this.child<Linear>('up_proj').forward(x);
      // silu(g) = g·sigmoid(g); spelled out because tfjs-core has no silu op with a registered gradient.
      const activated = tf.mul(gate, tf.sigmoid(gate));
      return this.child<Linear>('down_proj').forward(tf.mul(activated, up)) as tf.Tensor3D;
    });
  }
}
