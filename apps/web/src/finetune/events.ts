import type { Generation } from './generations.js';

/** What a fine-tuning run reports as it goes; the worker forwards each one to the page unchanged. */
export type RunEvent =
  | { type: 'phase'; text: string }
  | {
      type: 'model';
      layers: number;
      hiddenSize: number;
      vocabSize: number;
      /** Linear layers now stored as NF4 (double quantization), and the bytes they took before and after. */
      quantizedLinears: number;
      denseBytes: number;
      quantizedBytes: number;
    }
  | { type: 'parameters'; trainable: number; all: number; summary: string }
  | { type: 'eval'; when: 'before' | 'after'; loss: number; rows: number }
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
