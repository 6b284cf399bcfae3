import { assertAdapterTensorFits, type PeftMethodV2 } from '@peft/adapter-bridge/method';
import {
  LORA_PEFT_TYPE,
  type LoraConfig,
  loraConfigToJson,
  parseLoraConfig,
  patternKeyFor,
  rankAndAlpha,
} from './config.js';
import { LoraLayer } from './layer.js';
import { loraTraining } from './training.js';

/** PEFT's default `target_modules` for LoRA by Hugging Face model_type (TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING). */
const DEFAULT_TARGETS: Record<string, readonly string[]> = {
  llama: ['q_proj', 'v_proj'],
  mistral: ['q_proj', 'v_proj'],
  mixtral: ['q_proj', 'v_proj'],
  qwen2: ['q_proj', 'v_proj'],
  gemma: ['q_proj', 'v_proj'],
  gemma2: ['q_proj', 'v_proj'],
  phi: ['q_proj', 'v_proj', 'fc1', 'fc2'],
};

/** LoRA as a `PeftMethod`. It has no model-level state: everything lives in the layers. */
export const loraMethod: PeftMethodV2<LoraConfig, undefined> = {
  specificationVersion: 'v2',
  peftType: LORA_PEFT_TYPE,
  name: 'lora',
  packageName: '@peft/lora',
  prefix: 'lora_',
  biasOnly: 'lora_only',
  defaultTargetModules: DEFAULT_TARGETS,
  parseConfig: parseLoraConfig,
  configToJson: loraConfigToJson,
  createLayer(context) {
    const { r, alpha } = rankAndAlpha(context.config, context.path);
    // Before allocating: r comes from the config file (or a rank_pattern entry for this layer).
    const rKey = patternKeyFor(context.config.rank_pattern, context.path, 'rank_pattern');
    const field = rKey === undefined ? 'r' : `rank_pattern[${JSON.stringify(rKey)}]`;
    const { inFeatures, outFeatures, path: where } = context;
    assertAdapterTensorFits({ tensor: 'lora_A.weight', shape: [r, inFeatures], field, value: r, where });
    assertAdapterTensorFits({ tensor: 'lora_B.weight', shape: [outFeatures, r], field, value: r, where });
    return new LoraLayer(context.inFeatures, context.outFeatures, {
      r,
      alpha,
      dropout: context.config.lora_dropout,
      useRslora: context.config.use_rslora,
      init: context.config.init_lora_weights,
    });
  },
  training: loraTraining,
};
