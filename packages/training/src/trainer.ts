import { ConfigError, frugalGradients } from '@peft/core';
import * as tf from '@tensorflow/tfjs-core';
import { AdamW, type AdamWOptions } from './adamw.js';
import { type LearningRateSchedule, learningRateAt } from './schedule.js';
import { type Divergence, TrainingDivergedError } from './training-diverged.js';

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

/** One micro-batch's loss and its share of the step's loss (gradient accumulation). */
export interface WeightedLoss {
  readonly loss: () => tf.Scalar;
  readonly weight: number;
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

  /**
   * The loss and the gradients of the named variables (a variable the loss does not use has none). A loss
   * that uses no variable at all (a batch of rows that predict no token: its loss is a constant 0) has no
   * gradients, and its step changes no weight.
   */
  private gradients(lossFn: () => tf.Scalar): {
    value: tf.Scalar;
    grads: tf.Tensor[];
    byName: Map<string, tf.Tensor>;
  } {
    const names = [...this.options.variables.keys()].filter((n) => this.options.variables.get(n)!.trainable);
    const varList = names.map((n) => this.options.variables.get(n)!);
    // Frees activations and their gradients as the backward pass goes (frugalGradients says why).
    const { value, grads } = frugalGradients(lossFn, varList);
    if (value.rank !== 0) {
      tf.dispose([value, ...grads.filter((g) => g !== undefined)]);
      throw new ConfigError(`the loss must be a scalar, got a rank-${value.rank} tensor`);
    }
    const byName = new Map<string, tf.Tensor>();
    grads.forEach((g, i) => {
      if (g) byName.set(names[i]!, g);
    });
    return { value: value as tf.Scalar, grads: [...byName.values()], byName };
  }

  /**
   * The weighted sum of several losses and of their gradients, one loss at a time, so only one micro-batch's
   * activations are alive at once (gradient accumulation). The running sums replace their previous values,
   * so the tensor count stays that of a single step's gradients.
   */
  private accumulatedGradients(parts: readonly WeightedLoss[]): {
    value: tf.Scalar;
    grads: tf.Tensor[];
    byName: Map<string, tf.Tensor>;
  } {
    let value: tf.Scalar = tf.scalar(0);
    const byName = new Map<string, tf.Tensor>();
    try {
      for (const part of parts) {
        const one = this.gradients(() => tf.tidy(() => tf.mul(part.loss(), part.weight) as tf.Scalar));
        const sum = tf.add(value, one.value) as tf.Scalar;
        tf.dispose([value, one.value]);
        value = sum;
        for (const [name, g] of one.byName) {
          const previous = byName.get(name);
          if (previous) {
            byName.set(name, tf.add(previous, g));
            tf.dispose([previous, g]);
          } else {
            byName.set(name, g);
          }
        }
      }
    } catch (error) {
      tf.dispose([value, ...byName.values()]);
      throw error;
    }
    return { value, grads: [...byName.values()], byName };
  }

  /** Throws before the update when the loss or the gradient norm is NaN or infinite (nothing is changed). */
  private refuseNonFinite(loss: number, gradNorm: number, learningRate: number, dispose: () => void): void {
    const what: Divergence | null = !Number.isFinite(loss)
      ? 'loss'
      : !Number.isFinite(gradNorm)
        ? 'gradient norm'
        : null;
    if (what === null) return;
    dispose();
    throw new TrainingDivergedError({
      step: this.optimizer.stepCount + 1,
      what,
      value: what === 'loss' ? loss : gradNorm,
      learningRate,
      peakLearningRate: this.options.schedule.peak,
    });
  }

  /**
   * 0 when every trained variable is finite after an update (a huge learning rate can overflow them), else
   * NaN: x·0 is NaN exactly for NaN and ±Inf, and one NaN makes the sum NaN. Kernels every backend has.
   */
  private variablesCheck(): tf.Scalar {
    return tf.tidy(() =>
      tf.addN([tf.scalar(0), ...[...this.options.variables.values()].map((v) => tf.sum(tf.mul(v, 0)))]),
    ) as tf.Scalar;
  }

  private updateDiverged(learningRate: number): TrainingDivergedError {
    return new TrainingDivergedError({
      step: this.optimizer.stepCount,
      what: 'update',
      value: Number.NaN,
      learningRate,
      peakLearningRate: this.options.schedule.peak,
    });
  }

  /** One step. `lossFn` must build the loss from the variables (it runs under `tf.engine().gradients`). */
  trainStep(lossFn: () => tf.Scalar): StepResult {
    const { value, grads, byName } = this.gradients(lossFn);
    const gradNorm = tf.tidy(() =>
      Math.sqrt([...byName.values()].reduce((sum, g) => sum + (tf.sum(tf.square(g)).dataSync()[0] ?? 0), 0)),
    );
    const learningRate = learningRateAt(this.options.schedule, this.optimizer.stepCount);
    const loss = value.dataSync()[0]!;
    this.refuseNonFinite(loss, gradNorm, learningRate, () => tf.dispose([value, ...grads]));
    const maxNorm = this.options.maxGradNorm ?? 0;
    let clipped = byName;
    if (maxNorm > 0 && gradNorm > maxNorm) {
      const scale = maxNorm / (gradNorm + 1e-6);
      clipped = new Map([...byName].map(([n, g]) => [n, tf.mul(g, scale)]));
    }
    this.optimizer.apply(clipped, learningRate);
    tf.dispose([value, ...grads, ...(clipped === byName ? [] : [...clipped.values()])]);
    const check = this.variablesCheck();
    const updateFinite = check.dataSync()[0] === 0;
    check.dispose();
    if (!updateFinite) throw this.updateDiverged(learningRate);
    return { step: this.optimizer.stepCount, loss, learningRate, gradNorm };
  }

  /**
   * The same step without a synchronous read: the loss and the gradient norm are read with `await data()`
   * (they must be known finite before the update is applied), the clipping factor stays on the device. For
   * WebGPU, where a synchronous read stalls the GPU (and in headless Chromium on SwiftShader returns zeros
   * and loses the device). Float32 clipping factor, so updates may differ from `trainStep`'s in the last bits.
   * Given weighted losses instead of one, the step's loss and gradients are their weighted sums (gradient
   * accumulation), clipped and applied once.
   */
  async trainStepAsync(lossFn: (() => tf.Scalar) | readonly WeightedLoss[]): Promise<StepResult> {
    const { value, grads, byName } =
      typeof lossFn === 'function' ? this.gradients(lossFn) : this.accumulatedGradients(lossFn);
    const norm = tf.tidy(() =>
      byName.size === 0
        ? tf.scalar(0)
        : tf.sqrt(tf.addN([...byName.values()].map((g) => tf.sum(tf.square(g))))),
    );
    const learningRate = learningRateAt(this.options.schedule, this.optimizer.stepCount);
    let loss: number;
    let gradNorm: number;
    try {
      const [lossValues, normValues] = await Promise.all([value.data(), norm.data()]);
      loss = lossValues[0]!;
      gradNorm = normValues[0]!;
    } catch (error) {
      tf.dispose([value, norm, ...grads]);
      throw error;
    }
    this.refuseNonFinite(loss, gradNorm, learningRate, () => tf.dispose([value, norm, ...grads]));
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
    this.optimizer.apply(clipped, learningRate);
    tf.dispose([value, norm, ...grads, ...(clipped === byName ? [] : [...clipped.values()])]);
    const check = this.variablesCheck();
    let updateFinite: boolean;
    try {
      updateFinite = (await check.data())[0] === 0;
    } finally {
      check.dispose();
    }
    if (!updateFinite) throw this.updateDiverged(learningRate);
    return { step: this.optimizer.stepCount, loss, learningRate, gradNorm };
  }

  dispose(): void {
    this.optimizer.dispose();
  }
}
