// Public surface of @peft/vera. Importing it registers VeRA (peft_type "VERA") with the adapter bridge.
import { registerPeftMethod } from '@peft/adapter-bridge';
import { veraMethod } from './model.js';

registerPeftMethod(veraMethod);

export {
  parseVeraConfig,
  VERA_PEFT_TYPE,
  type VeraConfig,
  veraConfig,
  veraConfigSchema,
  veraConfigToJson,
} from './config.js';
export { kaimingUniform, kaimingUniformBound } from './kaiming.js';
export { VeraLayer } from './layer.js';
export {
  findVeraDims,
  projectionArrays,
  type VeraProjectionTensors,
  type VeraSharedState,
  veraMethod,
} from './model.js';
export { veraParameterCounts, veraTraining } from './training.js';
export { type VeraProjectionOptions, type VeraProjections, veraProjections } from './vera-projections.js';
