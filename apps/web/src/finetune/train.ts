import type { PeftModel } from '@peft/adapter-bridge';
import type { LlamaForCausalLM } from '@peft/models';
import { BatchSampler, Trainer } from '@peft/training';
import * as tf from '@tensorflow/tfjs-core';
import type { RunOptions } from '../options.js';
import { batchInput, bucketedBatch } from './evaluate.js';
import type { EmitRunEvent } from './events.js';

/** At most 20 warm-up steps (as the Node demo), a tenth of a short run; then cosine decay. */
const MAX_WARMUP_STEPS = 20;
const MAX_GRAD_NORM = 1;

/** Gives the event loop a turn, so messages (and, on a page's main thread, rendering) get through. */
export const nextTurn = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

/**
 * Trains the adapter's variables with AdamW on shuffled batches of `train`, one `step` event per step. Steps
 * never read a tensor synchronously (`trainStepAsync`), so they run on WebGPU as well as on wasm.
 */
export async function trainAdapters(
  peft: PeftModel,
  model: LlamaForCausalLM,
  train: number[][],
  options: RunOptions,
  batching: { padId: number; maxSeqLen: number },
  emit: EmitRunEvent,
): Promise<void> {
  emit({ type: 'phase', text: `Fine-tuning for ${options.steps} steps` });
  const trainer = new Trainer({
    variables: new Map(peft.namedTrainableVariables()),
    schedule: {
      kind: 'cosine',
      peak: options.learningRate,
      warmupSteps: Math.min(MAX_WARMUP_STEPS, Math.floor(options.steps / 10)),
      totalSteps: options.steps,
    },
    maxGradNorm: MAX_GRAD_NORM,
  });
  const sampler = new BatchSampler(train.length, options.batchSize, options.seed);
  peft.train();
  try {
    for (let i = 0; i < options.steps; i++) {
      const rows = sampler.next().map((index) => train[index]!);
      const batch = bucketedBatch(rows, batching.padId, batching.maxSeqLen);
      const started = performance.now();
      const { step, loss, learningRate } = await trainer.trainStepAsync(() => model.loss(batchInput(batch)));
      const milliseconds = performance.now() - started;
      const { numTensors, numBytes } = tf.memory();
      emit({ type: 'step', step, loss, learningRate, numTensors, numBytes, milliseconds });
      await nextTurn();
    }
  } finally {
    trainer.dispose();
    peft.eval();
  }
}
