import { ConfigError, fromFloat32, type StateDict, toFloat32 } from '@peft/core';
import * as tf from '@tensorflow/tfjs-core';

export interface AdamWOptions {
  beta1?: number;
  beta2?: number;
  epsilon?: number;
  weightDecay?: number;
}

/**
 * AdamW (decoupled weight decay) over named variables. Written here rather than using
 * `tf.train.adam` because a resumable run must save and restore the moments synchronously by name, and
 * the learning rate changes every step; both are awkward through tfjs' optimizer classes.
 */
export class AdamW {
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  readonly weightDecay: number;
  private steps = 0;
  private readonly moments = new Map<string, { m: tf.Variable; v: tf.Variable }>();

  constructor(
    private readonly variables: ReadonlyMap<string, tf.Variable>,
    options: AdamWOptions = {},
  ) {
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.epsilon = options.epsilon ?? 1e-8;
    this.weightDecay = options.weightDecay ?? 0;
    for (const [name, variable] of variables) {
      // In tidy: a variable shares the zeros' data, and the zeros tensor itself would otherwise outlive dispose().
      this.moments.set(
        name,
        tf.tidy(() => ({
          m: tf.variable(tf.zerosLike(variable), false),
          v: tf.variable(tf.zerosLike(variable), false),
        })),
      );
    }
  }

  get stepCount(): number {
    return this.steps;
  }

  /** One update with `gradients` keyed by the same names as the variables. */
  apply(gradients: ReadonlyMap<string, tf.Tensor>, learningRate: number): void {
    this.steps++;
    const { beta1, beta2, epsilon, weightDecay } = this;
    const correction1 = 1 - beta1 ** this.steps;
    const correction2 = 1 - beta2 ** this.steps;
    tf.tidy(() => {
      for (const [name, variable] of this.variables) {
        const g = gradients.get(name);
        if (!g) continue;
        const { m, v } = this.moments.get(name)!;
        const m1 = tf.add(tf.mul(m, beta1), tf.mul(g, 1 - beta1));
        const v1 = tf.add(tf.mul(v, beta2), tf.mul(tf.square(g), 1 - beta2));
        const update = tf.div(tf.div(m1, correction1), tf.add(tf.sqrt(tf.div(v1, correction2)), epsilon));
        const decayed = weightDecay > 0 ? tf.mul(variable, 1 - learningRate * weightDecay) : variable;
        m.assign(m1);
        v.assign(v1);
        variable.assign(tf.sub(decayed, tf.mul(update, learningRate)));
      }
    });
  }

  /** Moments and step count as host tensors, for a checkpoint. */
  stateDict(): StateDict {
    const dict: StateDict = new Map();
    dict.set('step', fromFloat32([this.steps], [1], 'F64'));
    for (const [name, { m, v }] of this.moments) {
      dict.set(`${name}.exp_avg`, fromFloat32(m.dataSync() as Float32Array, m.shape));
      dict.set(`${name}.exp_avg_sq`, fromFloat32(v.dataSync() as Float32Array, v.shape));
    }
    return dict;
  }

  loadStateDict(dict: StateDict): void {
    const step = dict.get('step');
    if (!step) throw new ConfigError('optimizer state has no "step" entry');
    for (const [name, { m, v }] of this.moments) {
      for (const [suffix, target] of [
        ['exp_avg', m],
        ['exp_avg_sq', v],
      ] as const) {
        const entry = dict.get(`${name}.${suffix}`);
        if (!entry || entry.shape.join(',') !== target.shape.join(',')) {
          throw new ConfigError(
            `optimizer state does not match the model: "${name}.${suffix}" is ${entry ? JSON.stringify(entry.shape) : 'missing'}, expected ${JSON.stringify(target.shape)}`,
          );
        }
        tf.tidy(() => target.assign(tf.tensor(toFloat32(entry), target.shape)));
      }
    }
    this.steps = toFloat32(step)[0]!;
  }

  dispose(): void {
    for (const { m, v } of this.moments.values()) {
      m.dispose();
      v.dispose();
    }
  }
}
