// PEFT adapters and the training loop (browser-safe): a new adapter on a loaded model, a run's own random
// stream, and the views of a causal LM that training and evaluation take. Needs @peft/adapter-bridge and a
// causal language model with a `loss` (e.g. @peft/models' LlamaForCausalLM).
import {
  type AdapterConfig,
  type AdapterRandomState,
  adapterRandomState,
  getPeftModel,
  type PeftModel,
  restoreAdapterRandom,
  saveAdapterFiles,
} from '@peft/adapter-bridge';
import type { Module } from '@peft/core';
import * as tf from '@tensorflow/tfjs-core';
import type { Batch } from './batches.js';
import type { EvaluableModel } from './evaluate.js';
import type { TrainableModel } from './trainable.js';

/** What training needs from a causal language model (e.g. @peft/models' `LlamaForCausalLM`). */
export interface CausalLanguageModel {
  /** The mean next-token loss over the labelled tokens (labels are the inputs, -100 ignored; shifted inside). */
  loss(input: { inputIds: tf.Tensor2D; attentionMask: tf.Tensor2D; labels: tf.Tensor2D }): tf.Scalar;
  train(mode?: boolean): unknown;
  readonly training: boolean;
}

/**
 * A run's own adapter random stream (dropout masks, random initialisation). The adapter bridge draws from
 * one process-wide stream; a run installs its position only while its own synchronous work runs and
 * takes it back after, so two runs in one process (even interleaved) each see exactly their own draws.
 */
export class RunRandomStream {
  private state: AdapterRandomState | null;

  constructor(seed: number | null) {
    this.state = seed === null ? null : { seed, draws: 0 };
  }

  /** Runs synchronous `fn` with this stream installed. */
  run<T>(fn: () => T): T {
    const outside = adapterRandomState();
    restoreAdapterRandom(this.state);
    try {
      return fn();
    } finally {
      this.state = adapterRandomState();
      restoreAdapterRandom(outside);
    }
  }

  get position(): AdapterRandomState | null {
    return this.state ? { ...this.state } : null;
  }

  set position(state: AdapterRandomState | null) {
    const outside = adapterRandomState();
    // restoreAdapterRandom validates the state; keep what it accepted.
    restoreAdapterRandom(state);
    this.state = adapterRandomState();
    restoreAdapterRandom(outside);
  }
}

/** Injects a new, untrained adapter (PEFT's `get_peft_model`), its random init drawn from `random`. */
export function attachNewAdapter(model: Module, config: AdapterConfig, random: RunRandomStream): PeftModel {
  return random.run(() => getPeftModel(model, config));
}

/** tfjs tensors of a padded batch, in the layout `LlamaForCausalLM.loss` takes. */
export function batchTensors(batch: Batch): {
  inputIds: tf.Tensor2D;
  attentionMask: tf.Tensor2D;
  labels: tf.Tensor2D;
} {
  const shape: [number, number] = [batch.batchSize, batch.seqLen];
  return {
    inputIds: tf.tensor2d(batch.inputIds, shape, 'int32'),
    attentionMask: tf.tensor2d(batch.attentionMask, shape, 'int32'),
    labels: tf.tensor2d(batch.labels, shape, 'int32'),
  };
}

/** An adapted causal LM as the training loop sees it; its dropout draws come from the run's stream. */
export function trainableAdapter(
  model: CausalLanguageModel,
  peft: PeftModel,
  random: RunRandomStream,
): TrainableModel {
  const variables = new Map(peft.namedTrainableVariables());
  return {
    loss: (batch) => tf.tidy(() => model.loss(batchTensors(batch))),
    // The whole step, backward pass included (where checkpointed layers replay their dropout draws).
    inRandomStream: (fn) => random.run(fn),
    trainableVariables: () => variables,
    setTraining: (on) => {
      peft.train(on);
    },
    get training() {
      return model.training;
    },
    saveFiles: async () => saveAdapterFiles(peft),
    randomState: () => random.position,
    restoreRandomState: (state) => {
      random.position = state as AdapterRandomState | null;
    },
  };
}

/** A causal LM (adapted or not) as evaluation sees it. */
export function evaluableModel(model: CausalLanguageModel): EvaluableModel {
  return {
    loss: (batch) => tf.tidy(() => model.loss(batchTensors(batch))),
    setTraining: (on) => {
      model.train(on);
    },
    get training() {
      return model.training;
    },
  };
}
