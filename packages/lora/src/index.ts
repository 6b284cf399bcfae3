// Public surface of @peft/lora. Importing it registers LoRA (peft_type "LORA") with the adapter bridge.
import { registerPeftMethod } from '@peft/adapter-bridge';
import { loraMethod } from './model.js';

registerPeftMethod(loraMethod);

export {
  LORA_PEFT_TYPE,
  type LoraConfig,
  loraConfig,
  loraConfigSchema,
  loraConfigToJson,
  parseLoraConfig,
  patternKeyFor,
  rankAndAlpha,
} from './config.js';
export { LoraLayer, type LoraLayerOptions } from './layer.js';
export { loraMethod } from './model.js';
export { loraParameterCounts, loraTraining } from './training.js';
