import type { Generation } from './generations.js';

/** What a fine-tuning run reports as it goes; the worker forwards each one to the page unchanged. */
export type RunEvent =
  /** A new phase starts; its progress, if it has any, follows as `progress` events. */
  | { type: 'phase'; text: string }
  /** How far the current phase is: `done` of `total` `unit`s (tensors, layers, rows, steps). */
  | { type: 'progress'; done: number; total: number; unit: string }
  | {
      type: 'model';
      layers: number;
      hiddenSize: number;
      vocabSize: number;
      /** The quantizer applied ("nf4", "fp4") or "none". */
      quantizer: string;
      /** Linear layers the quantizer replaced, and the bytes they took before and after. */
      quantizedLinears: number;
      denseBytes: number;
      quantizedBytes: number;
      /** Every linear layer's storage scheme, counted (e.g. { "bnb4-nf4": 28, dense: 1 }). */
      schemes: Record<string, number>;
    }
  | { type: 'parameters'; method: string; trainable: number; all: number; summary: string }
  /** Loss on `rows` rows of `data` (the held-out file, or the training file when there is none). */
  | { type: 'eval'; when: 'before' | 'after'; loss: number; rows: number; data: string }
  | { type: 'generations'; when: 'before' | 'after'; items: Generation[] }
  | {
      type: 'step';
      step: number;
      loss: number;
      learningRate: number;
      /** `tf.memory().numTensors` after the step: flat from the second step on, or something leaks. */
      numTensors: number;
      /** `tf.memory().numBytes`: what TensorFlow.js holds for tensors on the compute backend and the host. */
      numBytes: number;
      milliseconds: number;
    };

export type EmitRunEvent = (event: RunEvent) => void;
