import { ConfigError } from '@peft/core';
import * as tf from '@tensorflow/tfjs-core';
import { AdamW, type AdamWOptions } from './adamw.js';
import { type LearningRateSchedule, learningRateAt } from './schedule.js';

export interface TrainerOptions extends AdamWOptions {
  /** Named trainable variables, e.g. from `PeftModel.namedTrainableVariables()`. */
  variables: ReadonlyMap<string, tf.Variable>;
  schedule: LearningRateSchedule;
  /** Clip the global gradient norm to this value (0 or undefined: no clipping). */
  maxGradNorm?: number;
}

export interface StepResult {
  step: number;
  loss: number;
  learningRate: number;
  gradNorm: number;
}

/** Runs optimisation steps: gradients of a scalar loss w.r.t. the named variables, clipping, AdamW. */
export class Trainer {
  readonly optimizer: AdamW;
  private readonly options: TrainerOptions;

  constructor(options: TrainerOptions) {
    if (options.variables.size === 0) {
      throw new ConfigError(
        'nothing to train: the model has no trainable variables (was an adapter attached?)',
      );
    }
    this.options = options;
    this.optimizer = new AdamW(options.variables, options);
  }

  get step(): number {
    return this.optimizer.stepCount;
  }

  /** The loss and the gradients of the named variables (a variable the loss does not use has none). */
  private gradients(lossFn: () => tf.Scalar): {
    value: tf.Scalar;
    grads: tf.Tensor[];
    byName: Map<string, tf.Tensor>;
  } {
    const names = [...this.options.variables.keys()];
    const varList = names.map((n) => this.options.variables.get(n)!);
    const { value, grads } = tf.variableGrads(lossFn, varList);
    const byName = new Map<string, tf.Tensor>();
    varList.forEach((v, i) => {
      const g = grads[v.name];
      if (g) byName.set(names[i]!, g);
    });
    return { value, grads: Object.values(grads), byName };
  }

  private checkFinite(loss: number): void {
    if (!Number.isFinite(loss)) {
      throw new ConfigError(
        `loss became ${loss} at step ${this.optimizer.stepCount}; lower the learning rate`,
      );
    }
  }

  /** One step. `lossFn` must build the loss from the variables (it runs under `tf.variableGrads`). */
  trainStep(lossFn: () => tf.Scalar): StepResult {
    const { value, grads, byName } = this.gradients(lossFn);
    const gradNorm = tf.tidy(() =>
      Math.sqrt([...byName.values()].reduce((sum, g) => sum + (tf.sum(tf.square(g)).dataSync()[0] ?? 0), 0)),
    );
    const maxNorm = this.options.maxGradNorm ?? 0;
    let clipped = byName;
    if (maxNorm > 0 && gradNorm > maxNorm) {
      const scale = maxNorm / (gradNorm + 1e-6);
      clipped = new Map([...byName].map(([n, g]) => [n, tf.mul(g, scale)]));
    }
    const learningRate = learningRateAt(this.options.schedule, this.optimizer.stepCount);
    this.optimizer.apply(clipped, learningRate);
    const loss = value.dataSync()[0]!;
    tf.dispose([value, ...grads, ...(clipped === byName ? [] : [...clipped.values()])]);
    this.checkFinite(loss);
    return { step: this.optimizer.stepCount, loss, learningRate, gradNorm };
  }

  /**
   * The same step with no blocking read: the gradient norm and the clipping factor stay on the device,
   * and the loss and norm are read with `await data()` once the update is queued. For WebGPU, where a
   * synchronous read stalls the GPU (and in headless Chromium on SwiftShader returns zeros and loses the
   * device). Float32 clipping factor, so updates may differ from `trainStep`'s in the last bits.
   */
  async trainStepAsync(lossFn: () => tf.Scalar): Promise<StepResult> {
    const { value, grads, byName } = this.gradients(lossFn);
    const norm = tf.tidy(() =>
      byName.size === 0
        ? tf.scalar(0)
        : tf.sqrt(tf.addN([...byName.values()].map((g) => tf.sum(tf.square(g))))),
    );
    const maxNorm = this.options.maxGradNorm ?? 0;
    let clipped = byName;
    if (maxNorm > 0) {
      // maxNorm / (norm + 1e-6) when the norm is above maxNorm, else 1: what trainStep does on the host.
      const scale = tf.tidy(() =>
        tf.where(tf.greater(norm, maxNorm), tf.div(maxNorm, tf.add(norm, 1e-6)), tf.onesLike(norm)),
      );
      clipped = new Map([...byName].map(([n, g]) => [n, tf.mul(g, scale)]));
      scale.dispose();
    }
    const learningRate = learningRateAt(this.options.schedule, this.optimizer.stepCount);
    this.optimizer.apply(clipped, learningRate);
    tf.dispose([...grads, ...(clipped === byName ? [] : [...clipped.values()])]);
    let loss: number;
    let gradNorm: number;
    try {
      const [lossValues, normValues] = await Promise.all([value.data(), norm.data()]);
      loss = lossValues[0]!;
      gradNorm = normValues[0]!;
    } finally {
      tf.dispose([value, norm]);
    }
    this.checkFinite(loss);
    return { step: this.optimizer.stepCount, loss, learningRate, gradNorm };
  }

  dispose(): void {
    this.optimizer.dispose();
  }
}
