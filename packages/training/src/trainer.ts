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

  /** One step. `lossFn` must build the loss from the variables (it runs under `tf.variableGrads`). */
  trainStep(lossFn: () => tf.Scalar): StepResult {
    const names = [...this.options.variables.keys()];
    const varList = names.map((n) => this.options.variables.get(n)!);
    const { value, grads } = tf.variableGrads(lossFn, varList);
    const byName = new Map<string, tf.Tensor>();
    varList.forEach((v, i) => {
      const g = grads[v.name];
      if (g) byName.set(names[i]!, g);
    });
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
    tf.dispose([value, ...Object.values(grads), ...(clipped === byName ? [] : [...clipped.values()])]);
    if (!Number.isFinite(loss)) {
      throw new ConfigError(
        `loss became ${loss} at step ${this.optimizer.stepCount}; lower the learning rate`,
      );
    }
    return { step: this.optimizer.stepCount, loss, learningRate, gradNorm };
  }

  dispose(): void {
    this.optimizer.dispose();
  }
}
