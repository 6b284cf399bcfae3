// Public surface of @peft/training (browser-safe): the training run, evaluation, batching, data rows,
// schedules, checkpoints stores and run fingerprints. Runs on model folders and files: '@peft/training/node'.
export { AdamW, type AdamWOptions } from './adamw.js';
export {
  type Batch,
  BatchSampler,
  checkSamplerState,
  makeBatch,
  type SamplerState,
  SamplerStateError,
  sequentialBatches,
} from './batches.js';
export {
  ASSISTANT_ROLE,
  type ChatRow,
  type ChatTokenizeOptions,
  checkMessages,
  tokenizeChat,
} from './chat-rows.js';
export {
  type ChatMessage,
  ChatTemplate,
  ChatTemplateError,
  type ChatTemplateFiles,
  type RenderOptions,
} from './chat-template.js';
export {
  type CheckpointData,
  type CheckpointStore,
  checkTrainerState,
  type LogEntry,
  MemoryCheckpointStore,
  TRAINER_STATE_FORMAT,
  type TrainerState,
} from './checkpoint-store.js';
export {
  type DatasetExamples,
  type DatasetExamplesOptions,
  datasetExamples,
  type TextEncoder,
} from './dataset-examples.js';
export { type EvalResult, type EvaluableModel, type EvaluateOptions, evaluate } from './evaluate.js';
export { canonicalJson, describeRunDifferences, fingerprintHash, sha256Hex } from './fingerprint.js';
export {
  asTrainingExample,
  type ChatOptions,
  DataFormatError,
  type DataRow,
  decodeJsonl,
  type ExampleInput,
  IGNORE_LABEL,
  type JsonlRow,
  MAX_JSONL_LINE_CHARS,
  type PromptCompletionRow,
  parseDataRows,
  parseJsonl,
  type TokenizeOptions,
  type TrainingExample,
  tokenizeExamples,
  tokenizeRows,
} from './jsonl.js';
export {
  formatGiB,
  isOutOfMemory,
  isRuntimeOutOfMemory,
  type MemorySettings,
  memoryAdvice,
  type OutOfMemoryDetails,
  OutOfMemoryError,
  WASM_HEAP_CEILING_BYTES,
} from './out-of-memory.js';
export { type LearningRateSchedule, learningRateAt, type ScheduleKind } from './schedule.js';
export {
  findResumePoint,
  ResumeError,
  type RunStart,
  runDescription,
  type StepProgress,
  type TrainCallbacks,
  type TrainOptions,
  type TrainResult,
  train,
} from './train.js';
export type { TrainableModel } from './trainable.js';
export { type StepResult, Trainer, type TrainerOptions, type WeightedLoss } from './trainer.js';
export {
  DEFAULT_REPORTING,
  defaultOptimisation,
  type OptimisationOptions,
  optimisationPart,
  type ReportingOptions,
  resolveTrainingArguments,
  type TrainingArguments,
} from './training-arguments.js';
export {
  type Divergence,
  type DivergenceDetails,
  isTrainingDiverged,
  TrainingDivergedError,
} from './training-diverged.js';
export { encodeTruncated, PREFIX_MARGIN_TOKENS } from './truncated-encode.js';
