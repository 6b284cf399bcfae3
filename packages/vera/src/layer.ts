import { adapterDropout, adapterRandomNormal, type MethodLayer } from '@peft/adapter-bridge/method';
import { frugalAdd, frugalReshape, Module, matMulFrozenRight } from '@peft/core';
import * as tf from '@tensorflow/tfjs-core';
import type { VeraConfig } from './config.js';
import { projectionSlice, projectionSliceTransposed, type VeraSharedState } from './model.js';

/**
 * VeRA on one linear layer (PEFT's `vera.Linear` for one adapter):
 *
 *   h = W0·x + Λ_b · B_s · Λ_d · A_s · dropout(x),  A_s = vera_A[:, :in], B_s = vera_B[:out, :]
 *
 * Only the two scaling vectors train: `vera_lambda_b` (out) and `vera_lambda_d` (r). The projections
 * are the model-wide frozen ones, sliced to this layer's LOGICAL shape, so every layer of a model
 * with mixed shapes (4-bit or not) shares one pair.
 */
export class VeraLayer extends Module implements MethodLayer {
  readonly lambdaB: tf.Variable<tf.Rank.R1>;
  readonly lambdaD: tf.Variable<tf.Rank.R1>;
  private readonly dropout: number;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    config: VeraConfig,
    private readonly shared: VeraSharedState,
  ) {
    super();
    const r = config.r;
    this.dropout = config.vera_dropout;
    const b = config.init_weights ? tf.zeros([outFeatures]) : tf.ones([outFeatures]);
    const d = config.init_weights ? tf.fill([r], config.d_initial) : adapterRandomNormal([r]);
    this.lambdaB = this.registerParameter('vera_lambda_b', tf.variable(b, true)) as tf.Variable<tf.Rank.R1>;
    this.lambdaD = this.registerParameter('vera_lambda_d', tf.variable(d, true)) as tf.Variable<tf.Rank.R1>;
    tf.dispose([b, d]);
  }

  /**
   * The projections as this layer uses them, both pre-transposed for a transpose-free matmul (the
   * fast path on tfjs wasm): A_sᵀ [in, r] and B_sᵀ [r, out]. Slices are cached per width on the shared
   * projections (a few per model), not per layer, which would multiply the memory VeRA exists to save.
   */
  private slices(): { aT: tf.Tensor2D; bT: tf.Tensor2D } {
    const p = this.shared.projections;
    return { aT: projectionSlice(p, 'a', this.inFeatures), bT: projectionSlice(p, 'b', this.outFeatures) };
  }

  apply(x: tf.Tensor, result: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const lead = x.shape.slice(0, -1);
      let x2d = frugalReshape<tf.Tensor2D>(x, [-1, this.inFeatures]);
      // Masks come from the adapter stream, so a seeded run (`seedAdapterRandom`) repeats exactly.
      if (this.training) x2d = adapterDropout(x2d, this.dropout);
      const { aT, bT } = this.slices();
      // The slices and their transposes live as long as the projections: the backward pass multiplies by the
      // transposes, made once per width, instead of saving a clone or transposing every step.
      const p = this.shared.projections;
      const down = tf.mul(
        matMulFrozenRight(x2d, aT, { transposed: projectionSliceTransposed(p, 'a', this.inFeatures) }),
        this.lambdaD,
      );
      const delta = tf.mul(
        matMulFrozenRight(down as tf.Tensor2D, bT, {
          transposed: projectionSliceTransposed(p, 'b', this.outFeatures),
        }),
        this.lambdaB,
      );
      return frugalAdd(result, frugalReshape(delta, [...lead, this.outFeatures]));
    });
  }

  /** ΔW = (λ_b ⊙ B_s) @ (λ_d ⊙ A_s), [out, in]. */
  deltaWeight(): tf.Tensor2D {
    return tf.tidy(() => {
      const { aT, bT } = this.slices();
      const scaledB = tf.mul(
        tf.transpose(bT),
        tf.reshape(this.lambdaB, [this.outFeatures, 1]),
      ) as tf.Tensor2D;
      const scaledA = tf.mul(tf.transpose(aT), tf.reshape(this.lambdaD, [-1, 1])) as tf.Tensor2D;
      return tf.matMul(scaledB, scaledA);
    });
  }

  stateVariables(): ReadonlyMap<string, tf.Variable> {
    return new Map<string, tf.Variable>([
      ['vera_lambda_b', this.lambdaB],
      ['vera_lambda_d', this.lambdaD],
    ]);
  }
}
