// Loading a saved PEFT adapter folder onto a model, with a message that names the model it was made for.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  ADAPTER_CONFIG_NAME,
  AdapterMismatchError,
  type PeftModel,
  TargetModulesError,
} from '@peft/adapter-bridge';
import { peftModelFromFolder as loadPeftFolder } from '@peft/adapter-bridge/node';
import { type Module, PeftError } from '@peft/core';

/** An adapter folder does not fit the model it is applied to (other model, other shapes, other layers). */
export class AdapterModelMismatchError extends PeftError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ADAPTER_MODEL_MISMATCH', message, options);
  }
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
