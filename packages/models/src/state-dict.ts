import { type DType, fromFloat32, isLinear, type StateDict } from '@peft/core';
import type * as tf from '@tensorflow/tfjs-core';
import { configToJson } from './config.js';
import { CheckpointError } from './errors.js';
import { checkpointLayout } from './layout.js';
import type { LlamaForCausalLM } from './model.js';

export interface ModelStateDict {
  /** Tensors in transformers' names; linears in their own format's layout (dense or quantized). */
  readonly tensors: StateDict;
  /** The `config.json` that describes them. */
  readonly config: Record<string, unknown>;
}

/**
 * The model's tensors as a checkpoint would hold them. Every projection must be a base `Linear`
 * (merge or unload adapters first). A tied head that a merge replaced is written as its own
 * `lm_head.weight`, and the config then says `tie_word_embeddings: false`.
 */
export function modelStateDict(
  model: LlamaForCausalLM,
  options: { floatDType?: DType } = {},
): ModelStateDict {
  const { config } = model;
  const floatDType = options.floatDType ?? configFloatDType(config.raw['torch_dtype'] ?? config.raw['dtype']);
  const tensors: StateDict = new Map();
  const layout = checkpointLayout(config);
  const parameters = new Map(model.namedParameters());
  for (const spec of layout.tensors) {
    const variable = parameters.get(spec.name);
    if (!variable) throw new CheckpointError('model', spec.name, 'is not a parameter of the model tree');
    tensors.set(spec.name, hostOf(variable, floatDType));
  }
  const head = model.getSubmodule('lm_head');
  const untied = config.tieWordEmbeddings && !(isLinear(head) && head.layer === model.tiedHead);
  const linearPaths = layout.linears.map((l) => l.path);
  if (untied) linearPaths.push('lm_head');
  for (const path of linearPaths) {
    const module = model.getSubmodule(path);
    if (!isLinear(module)) {
      throw new CheckpointError(
        'model',
        `${path}.weight`,
        `cannot be written: ${path} is a ${module.constructor.name}, not a base Linear; merge and unload adapters first`,
      );
    }
    for (const [key, value] of module.layer.stateDict(`${path}.`)) tensors.set(key, value);
  }
  return {
    tensors,
    config: configToJson(config, { tieWordEmbeddings: config.tieWordEmbeddings && !untied }),
  };
}

/** Embedding and norm weights are written in the checkpoint's declared dtype unless told otherwise. */
function configFloatDType(torchDType: unknown): DType {
  if (torchDType === 'float16') return 'F16';
  if (torchDType === 'bfloat16') return 'BF16';
  return 'F32';
}

function hostOf(variable: tf.Variable, dtype: DType) {
  return fromFloat32(variable.dataSync() as Float32Array, variable.shape, dtype);
}
