// Putting an adapter on a loaded model (a new one from a config, or a saved PEFT folder), and the view of
// an adapted causal LM that the training loop trains.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  ADAPTER_CONFIG_NAME,
  type AdapterConfig,
  AdapterMismatchError,
  type AdapterRandomState,
  adapterRandomState,
  getPeftModel,
  type PeftModel,
  restoreAdapterRandom,
  saveAdapterFiles,
  TargetModulesError,
} from '@peft/adapter-bridge';
import { fromPretrained as loadPeftFolder } from '@peft/adapter-bridge/node';
import { type Module, PeftError } from '@peft/core';
import type { LlamaForCausalLM } from '@peft/models';
import * as tf from '@tensorflow/tfjs-core';
import type { Batch } from '../batches.js';
import type { EvaluableModel } from '../evaluate.js';
import type { TrainableModel } from '../trainable.js';

/** An adapter folder does not fit the model it is applied to (other model, other shapes, other layers). */
export class AdapterModelMismatchError extends PeftError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ADAPTER_MODEL_MISMATCH', message, options);
  }
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

export interface LoadAdapterFolderOptions {
  /** Keep the adapter trainable (PEFT's `is_trainable`); default false (inference). */
  trainable?: boolean;
  /** How to name the model in a mismatch message (e.g. its folder). */
  modelName?: string;
}

/** The `base_model_name_or_path` an adapter folder records, if any. */
async function recordedBaseModel(dir: string): Promise<string | null> {
  try {
    const json = JSON.parse(await readFile(join(dir, ADAPTER_CONFIG_NAME), 'utf8')) as Record<
      string,
      unknown
    >;
    const name = json['base_model_name_or_path'];
    return typeof name === 'string' && name !== '' ? name : null;
  } catch {
    return null;
  }
}

/**
 * Loads a PEFT adapter folder onto `model` (PEFT's `PeftModel.from_pretrained`). An adapter made for
 * another model is an `AdapterModelMismatchError` that lists what does not fit and names the model the
 * adapter records; the model is left as it was.
 */
export async function loadAdapterFolder(
  model: Module,
  dir: string,
  options: LoadAdapterFolderOptions = {},
): Promise<PeftModel> {
  try {
    return await loadPeftFolder(model, dir, { isTrainable: options.trainable ?? false });
  } catch (error) {
    if (!(error instanceof AdapterMismatchError || error instanceof TargetModulesError)) throw error;
    const recorded = await recordedBaseModel(dir);
    const forModel = options.modelName ? `the model ${options.modelName}` : 'this model';
    throw new AdapterModelMismatchError(
      `the adapter in ${dir} does not fit ${forModel}` +
        (recorded ? ` (the adapter was made for ${recorded})` : '') +
        `; use the base model it was trained on.\n${error.message}`,
      { cause: error },
    );
  }
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
  model: LlamaForCausalLM,
  peft: PeftModel,
  random: RunRandomStream,
): TrainableModel {
  const variables = new Map(peft.namedTrainableVariables());
  return {
    loss: (batch) => random.run(() => tf.tidy(() => model.loss(batchTensors(batch)))),
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
export function evaluableModel(model: LlamaForCausalLM): EvaluableModel {
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
