// Node entry point (`@peft/training/node`): runs on model folders and files: `finetune()`, `evaluateFolder()`,
// `generateText()`, `initAdapter()`, `plan()`, the folder checkpoint store and JSONL files. The main entry
// point stays browser-safe.

export {
  attachNewAdapter,
  batchTensors,
  type CausalLanguageModel,
  evaluableModel,
  RunRandomStream,
  trainableAdapter,
} from './adapters-entry.js';
export { adapterConfigAsJson, readAdapterConfigFile } from './node/adapter-config-file.js';
export {
  AdapterModelMismatchError,
  type LoadAdapterFolderOptions,
  loadAdapterFolder,
} from './node/adapters.js';
export { CHAT_TEMPLATE_FILE, readChatTemplate, TOKENIZER_CONFIG_FILE } from './node/chat-template-file.js';
export {
  type DataFiles,
  type Dataset,
  type ReadDatasetOptions,
  readDataset,
  resolveDataFiles,
  TEST_FILE,
  type TextEncoder,
  TRAIN_FILE,
  VALID_FILE,
} from './node/dataset.js';
export { type EvaluateFolderOptions, evaluateFolder } from './node/evaluate-folder.js';
export {
  checkpointDirName,
  FileCheckpointStore,
  OPTIMIZER_NAME,
  TRAINER_STATE_NAME,
} from './node/file-checkpoint-store.js';
export {
  type BackendOptions,
  ensureBackend,
  type FinetuneCallbacks,
  type FinetuneOptions,
  type FinetuneStart,
  type FinetuneStepProgress,
  type FinetuneSummary,
  finetune,
  givenMethodOptions,
  type MethodOptions,
  resolveAdapterConfig,
  wasmHeapBytes,
} from './node/finetune.js';
export {
  type GeneratedText,
  type GenerateTextOptions,
  generateText,
  samplingOptions,
} from './node/generate.js';
export { type InitAdapterOptions, type InitAdapterReport, initAdapter } from './node/init-adapter.js';
export { asOutOfMemory, checkTrainingMemory, type MemoryCheckOptions } from './node/memory-check.js';
export { type MergeAdapterOptions, type MergeReport, mergeAdapter } from './node/merge.js';
export { modelFolderFingerprint } from './node/model-fingerprint.js';
export {
  assertModelFolder,
  type BaseModel,
  givenQuantizeOptions,
  linearSchemes,
  loadModelFolder,
  type QuantizeOptions,
} from './node/model-folder.js';
export {
  moduleCandidates,
  type PlanFolderOptions,
  type PlanLinear,
  type PlanOptions,
  type PlanReport,
  plan,
  planFineTuning,
  readModelConfig,
} from './node/plan.js';
