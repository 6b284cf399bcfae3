import type { PeftMethod } from '@peft/adapter-bridge';
import {
  LORA_PEFT_TYPE,
  type LoraConfig,
  loraConfigToJson,
  parseLoraConfig,
  rankAndAlpha,
} from './config.js';
import { LoraLayer } from './layer.js';

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
export const loraMethod: PeftMethod<LoraConfig, undefined> = {
  specificationVersion: 'v1',
  peftType: LORA_PEFT_TYPE,
  packageName: '@peft/lora',
  prefix: 'lora_',
  biasOnly: 'lora_only',
  defaultTargetModules: DEFAULT_TARGETS,
  parseConfig: parseLoraConfig,
  configToJson: loraConfigToJson,
  createLayer(context) {
    const { r, alpha } = rankAndAlpha(context.config, context.path);
    return new LoraLayer(context.inFeatures, context.outFeatures, {
      r,
      alpha,
      dropout: context.config.lora_dropout,
      useRslora: context.config.use_rslora,
      init: context.config.init_lora_weights,
    });
  },
};
