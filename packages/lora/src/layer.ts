import {
  adapterDropout,
  adapterRandomNormal,
  adapterRandomUniform,
  type MethodLayer,
} from '@peft/adapter-bridge/method';
import { frugalAdd, frugalReshape, frugalScale, Module, matMulBoth } from '@peft/core';
import * as tf from '@tensorflow/tfjs-core';

export interface LoraLayerOptions {
  readonly r: number;
  readonly alpha: number;
  readonly dropout: number;
  readonly useRslora: boolean;
  readonly init: boolean | string;
}

/**
 * LoRA on one linear layer (PEFT's `lora.Linear` for one adapter):
 *
 *   h = W0·x + scaling · B·A·dropout(x),   scaling = alpha / r  (alpha / sqrt(r) with rsLoRA)
 *
 * `lora_A.weight` is [r, in] and `lora_B.weight` [out, r], as PyTorch's `nn.Linear` stores them, so
 * they save under PEFT's keys unchanged.
 */
export class LoraLayer extends Module implements MethodLayer {
  readonly loraA: tf.Variable<tf.Rank.R2>;
  readonly loraB: tf.Variable<tf.Rank.R2>;
  readonly scaling: number;
  private readonly dropout: number;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    options: LoraLayerOptions,
  ) {
    super();
    const { r, alpha, init } = options;
    this.scaling = options.useRslora ? alpha / Math.sqrt(r) : alpha / r;
    this.dropout = options.dropout;
    // nn.Linear's default init (kaiming_uniform with a = sqrt(5)) has bound 1 / sqrt(fan_in). Drawn from
    // the adapter stream, so a seeded run (`seedAdapterRandom`) starts from the same weights every time.
    const kaiming = (shape: [number, number]) =>
      adapterRandomUniform(shape, -1 / Math.sqrt(shape[1]), 1 / Math.sqrt(shape[1]));
    const [a, b] = tf.tidy(() => {
      if (init === false) return [kaiming([r, inFeatures]), kaiming([outFeatures, r])];
      const gaussian = typeof init === 'string' && init.toLowerCase() === 'gaussian';
      return [
        gaussian ? adapterRandomNormal([r, inFeatures], 0, 1 / r) : kaiming([r, inFeatures]),
        tf.zeros([outFeatures, r]),
      ];
    });
    this.registerModule('lora_A', new Weight(a!));
    this.registerModule('lora_B', new Weight(b!));
    this.loraA = this.child<Weight>('lora_A').weight as tf.Variable<tf.Rank.R2>;
    this.loraB = this.child<Weight>('lora_B').weight as tf.Variable<tf.Rank.R2>;
  }

  apply(x: tf.Tensor, result: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const lead = x.shape.slice(0, -1);
      let x2d = frugalReshape<tf.Tensor2D>(x, [-1, this.inFeatures]);
      if (this.training) x2d = adapterDropout(x2d, this.dropout);
      // x·Aᵀ·Bᵀ; A has only r rows, so the transposed products cost little next to the base layer.
      // Explicit transposes: a transpose flag takes tfjs-backend-wasm off its fast matmul path.
      const down = matMulBoth<tf.Tensor2D>(x2d, tf.transpose(this.loraA));
      const delta = frugalScale(matMulBoth<tf.Tensor2D>(down, tf.transpose(this.loraB)), this.scaling);
      return frugalAdd(result, frugalReshape(delta, [...lead, this.outFeatures]));
    });
  }

  /** ΔW = scaling · B·A, [out, in]. */
  deltaWeight(): tf.Tensor2D {
    return tf.tidy(() => tf.mul(tf.matMul(this.loraB, this.loraA), this.scaling));
  }

  stateVariables(): ReadonlyMap<string, tf.Variable> {
    return new Map<string, tf.Variable>([
      ['lora_A.weight', this.loraA],
      ['lora_B.weight', this.loraB],
    ]);
  }
}

/** A bias-free `nn.Linear`'s parameter holder, so the tree reads `lora_A.weight` as in PyTorch. */
class Weight extends Module {
  readonly weight: tf.Variable;

  constructor(initial: tf.Tensor) {
    super();
    this.weight = this.registerParameter('weight', tf.variable(initial, true));
    initial.dispose();
  }
}
