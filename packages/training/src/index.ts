export { AdamW, type AdamWOptions } from './adamw.js';
export { type Batch, BatchSampler, makeBatch, type SamplerState, sequentialBatches } from './batches.js';
export { DataFormatError, type JsonlRow, parseJsonl, tokenizeRows } from './jsonl.js';
export { type LearningRateSchedule, learningRateAt, type ScheduleKind } from './schedule.js';
export { type StepResult, Trainer, type TrainerOptions } from './trainer.js';
