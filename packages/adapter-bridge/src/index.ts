// Public surface of @peft/adapter-bridge (browser-safe). Node file helpers: '@peft/adapter-bridge/node'.

export {
  ADAPTER_CONFIG_NAME,
  ADAPTER_WEIGHTS_NAME,
  type AdapterFiles,
  adapterConfigJson,
  adapterSubfolder,
  type LoadAdapterOptions,
  loadAdapterFiles,
  peftModelFromFiles,
  readAdapterConfig,
  type SaveAdapterOptions,
  saveAdapterFiles,
} from './adapter-files.js';
export { AdapterLayer, isAdapterLayer } from './adapter-layer.js';
export { AdapterNameError, assertValidAdapterName } from './adapter-name.js';
export {
  type AdapterRandomState,
  adapterDropout,
  adapterRandomNormal,
  adapterRandomState,
  adapterRandomUniform,
  restoreAdapterRandom,
  seedAdapterRandom,
} from './adapter-random.js';
export { BASE_MODEL_PREFIX, collectAdapterState, loadAdapterState, MODEL_PREFIX } from './adapter-state.js';
export { BiasOverrideLinear } from './bias-override.js';
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
} from './config/fields.js';
export {
  type AdapterConfig,
  checkTunerConfig,
  type PeftConfigFields,
  peftConfigSchema,
  TASK_TYPES,
  type TunerConfigFields,
  tunerConfigSchema,
} from './config/peft-config.js';
export { PyFloat, type PyJson, pythonJsonDumps } from './config/python-json.js';
export {
  AdapterFileError,
  AdapterMismatchError,
  AdapterStateError,
  MergeError,
  TargetModulesError,
} from './errors.js';
export {
  type AnyPeftMethod,
  type AnyTrainingPeftMethod,
  isTrainingCapable,
  type LayerContext,
  MethodContractError,
  type MethodLayer,
  type MethodOptionSpec,
  type MethodParameterCounts,
  type MethodTraining,
  type ParameterCountTarget,
  PEFT_METHOD_SPECIFICATION_VERSIONS,
  type PeftMethod,
  type PeftMethodBase,
  type PeftMethodSpecificationVersion,
  type PeftMethodV1,
  type PeftMethodV2,
  requireTrainingCapable,
  type SharedStateContext,
  type TargetLayerInfo,
} from './method.js';
export {
  adapterConfigFromOptions,
  type GenericMethodOptions,
  genericMethodOptions,
  type MethodOptionsInput,
  methodOptionSpecs,
  parseTargetModules,
} from './method-options.js';
export {
  adapterModelCard,
  isGeneratedModelCard,
  MODEL_CARD_MARKER,
  MODEL_CARD_NAME,
} from './model-card.js';
export { modelInfo, type PeftModelInfo } from './model-info.js';
export { ModuleDict } from './module-dict.js';
export { isModulesToSaveWrapper, ModulesToSaveWrapper, TrainableLinear } from './modules-to-save.js';
export { countParameters, formatParameterSummary, type ParameterCounts } from './parameter-count.js';
export { type AdapterConfigInput, getPeftModel, PeftModel } from './peft-model.js';
export { type PythonPattern, type PythonPatternOptions, pythonPattern } from './python-pattern.js';
export {
  getPeftMethod,
  methodByName,
  packageForPeftType,
  registeredMethods,
  registeredPeftTypes,
  registerPeftMethod,
  unregisterPeftMethod,
} from './registry.js';
export {
  ALL_LINEAR,
  checkTargetModuleExists,
  expandAllLinear,
  findMinimalTargetModules,
  type MatchTargetModulesOptions,
  matchTargetModules,
  outputHeadPath,
  type ResolvedTargets,
  resolveTargets,
  type TargetCandidate,
  type TargetMatchConfig,
  targetCandidates,
} from './targets.js';
export {
  type AdapterTensorSize,
  assertAdapterTensorFits,
  MAX_ADAPTER_TENSOR_ELEMENTS,
} from './tensor-limits.js';
export { type PeftWarning, setWarningHandler, type WarningHandler, warn } from './warnings.js';
