// Public surface of @peft/adapter-bridge (browser-safe), for people who use PEFT methods: getPeftModel,
// PeftModel, adapter files, the method registry, targets, warnings. What only method authors need (the
// PeftMethod contract, layer base classes, config field builders, random helpers for layers) is in
// '@peft/adapter-bridge/method'; Node file helpers are in '@peft/adapter-bridge/node'.

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
export { isAdapterLayer } from './adapter-layer.js';
export { AdapterNameError, assertValidAdapterName } from './adapter-name.js';
export {
  type AdapterRandomState,
  adapterRandomState,
  restoreAdapterRandom,
  seedAdapterRandom,
} from './adapter-random.js';
export { type AdapterConfig, TASK_TYPES } from './config/peft-config.js';
export { PyFloat, type PyJson, pythonJsonDumps } from './config/python-json.js';
export {
  AdapterFileError,
  AdapterMismatchError,
  AdapterStateError,
  MergeError,
  TargetModulesError,
} from './errors.js';
// What the registry hands out: a method to look up, list and check for training support.
export {
  type AnyPeftMethod,
  type AnyTrainingPeftMethod,
  isTrainingCapable,
  MethodContractError,
  type MethodOptionSpec,
  requireTrainingCapable,
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
export { isModulesToSaveWrapper, ModulesToSaveWrapper, TrainableLinear } from './modules-to-save.js';
export { countParameters, formatParameterSummary, type ParameterCounts } from './parameter-count.js';
export { type AdapterConfigInput, getPeftModel, PeftModel } from './peft-model.js';
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
export { type PeftWarning, setWarningHandler, type WarningHandler, warn } from './warnings.js';
