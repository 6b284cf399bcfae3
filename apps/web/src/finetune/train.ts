import {
  type ExampleInput,
  type TrainableModel,
  type TrainingArguments,
  type TrainResult,
  train,
} from '@peft/training';
import type { EmitRunEvent } from './events.js';

/** Gives the event loop a turn, so messages (and, on a page's main thread, rendering) get through. */
export const nextTurn = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

/**
 * Trains `model` with `@peft/training`'s `train()`, the loop `peft finetune` runs, and reports each step as
 * a `step` event. Its steps never read a tensor synchronously (`trainStepAsync`), so they run on WebGPU as
 * well as on wasm. No checkpoints: a page run is short, and saving reads tensors on the compute backend.
 */
export async function trainAdapter(
  model: TrainableModel,
  sequences: readonly ExampleInput[],
  padTokenId: number,
  args: TrainingArguments,
  emit: EmitRunEvent,
): Promise<TrainResult> {
  emit({ type: 'phase', text: `Fine-tuning for ${args.steps} steps` });
  let previousSeconds = 0;
  return train({
    model,
    train: sequences,
    padTokenId,
    args,
    store: null,
    callbacks: {
      onStep: (progress) => {
        // `elapsedSeconds` counts from the first step; a step's time is the difference (yields included).
        const milliseconds = (progress.elapsedSeconds - previousSeconds) * 1000;
        previousSeconds = progress.elapsedSeconds;
        emit({
          type: 'step',
          step: progress.step,
          loss: progress.loss,
          learningRate: progress.learningRate,
          numTensors: progress.tfTensors,
          numBytes: progress.tfBytes,
          milliseconds,
        });
      },
    },
  });
}
