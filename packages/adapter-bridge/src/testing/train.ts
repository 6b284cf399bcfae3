import type { Module } from '@peft/core';
import * as tf from '@tensorflow/tfjs-core';
import type { PeftModel } from '../peft-model.js';

export type Forward = Module & { forward(x: tf.Tensor): tf.Tensor };

export function mseLoss(model: Forward, x: tf.Tensor, target: tf.Tensor): tf.Scalar {
  return tf.tidy(() => tf.mean(tf.square(tf.sub(model.forward(x), target))) as tf.Scalar);
}

export interface MseTrainResult {
  readonly losses: number[];
  /** tf.memory().numTensors after each step. */
  readonly tensors: number[];
}

/**
 * `steps` Adam steps on the adapter's trainable variables against `mseLoss`; returns the loss before
 * each step. A test fixture, not `@peft/training`'s `train` (the fine-tuning run).
 */
export function trainMse(
  peft: PeftModel,
  x: tf.Tensor,
  target: tf.Tensor,
  steps: number,
  learningRate = 0.05,
): MseTrainResult {
  const model = peft.model as Forward;
  const optimizer = tf.train.adam(learningRate);
  const losses: number[] = [];
  const tensors: number[] = [];
  peft.train();
  for (let i = 0; i < steps; i++) {
    const loss = optimizer.minimize(() => mseLoss(model, x, target), true, peft.trainableVariables());
    losses.push(loss!.dataSync()[0]!);
    loss!.dispose();
    tensors.push(tf.memory().numTensors);
  }
  peft.eval();
  optimizer.dispose();
  return { losses, tensors };
}

/** Inputs and a target the adapter can fit: the base model's output on a shifted input. */
export function regressionTask(model: Forward, rows = 6, hidden = 16): { x: tf.Tensor2D; target: tf.Tensor } {
  const x = tf.tensor2d(
    Array.from({ length: rows * hidden }, (_, i) => Math.sin(i * 0.37) + 0.1 * Math.cos(i * 1.3)),
    [rows, hidden],
  );
  const target = tf.tidy(() =>
    tf.add(model.forward(x), tf.mul(0.3, tf.sin(tf.range(0, model.forward(x).shape[1]!)))),
  );
  return { x, target };
}
