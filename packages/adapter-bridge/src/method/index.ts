// The method-author API of @peft/adapter-bridge (`@peft/adapter-bridge/method`, browser-safe): what a
// package that implements a PEFT method needs and an application does not. The contract a method
// implements, the base classes of its layers, the builders of its config schema, the random helpers its
// layers draw from and the size checks it runs before allocating. Registering the method
// (`registerPeftMethod`), warnings (`warn`), errors and Python JSON are in the main entry, which users share.

export { AdapterLayer } from '../adapter-layer.js';
export { adapterDropout, adapterRandomNormal, adapterRandomUniform } from '../adapter-random.js';
export { BASE_MODEL_PREFIX, collectAdapterState, loadAdapterState, MODEL_PREFIX } from '../adapter-state.js';
export { BiasOverrideLinear } from '../bias-override.js';
export {
  boolField,
  type ConfigSchema,
  enumField,
  type FieldSpec,
  floatField,
  intField,
  intOrListField,
  jsonObjectField,
  nullableStringField,
  numberField,
  type ParseOptions,
  parseWithSchema,
  schemaToJson,
  stringListField,
  stringOrListField,
  unsupportedField,
} from '../config/fields.js';
export {
  checkTunerConfig,
  type PeftConfigFields,
  peftConfigSchema,
  type TunerConfigFields,
  tunerConfigSchema,
} from '../config/peft-config.js';
export {
  type LayerContext,
  type MethodLayer,
  type MethodParameterCounts,
  type MethodTraining,
  type ParameterCountTarget,
  PEFT_METHOD_SPECIFICATION_VERSIONS,
  type PeftMethod,
  type PeftMethodBase,
  type PeftMethodSpecificationVersion,
  type PeftMethodV1,
  type PeftMethodV2,
  type SharedStateContext,
  type TargetLayerInfo,
} from '../method.js';
export { ModuleDict } from '../module-dict.js';
export { type PythonPattern, type PythonPatternOptions, pythonPattern } from '../python-pattern.js';
export {
  type AdapterTensorSize,
  assertAdapterTensorFits,
  MAX_ADAPTER_TENSOR_ELEMENTS,
} from '../tensor-limits.js';
