// Where a run keeps its checkpoints: an interface with an in-memory implementation here (browser-safe)
// and a folder implementation in '@peft/training/node'. A checkpoint is complete or absent: stores write
// one whole or not at all, so a resumed run always finds consistent state.
import { ConfigError, type StateDict } from '@peft/core';
import type { SamplerState } from './batches.js';

export const TRAINER_STATE_FORMAT = 'peft.js trainer state';

/** One entry of the run's history: a training step, or an evaluation. */
export type LogEntry =
  | { step: number; loss: number; learning_rate: number; grad_norm: number }
  | { step: number; eval_loss: number; eval_perplexity: number; eval_tokens: number };

/** Everything besides the model's files and the optimizer moments that a resumed run needs. */
export interface TrainerState {
  format: typeof TRAINER_STATE_FORMAT;
  version: 1;
  /** Optimisation steps done. */
  global_step: number;
  max_steps: number;
  /** Where the batch sampler stands (seed, epoch, position in the epoch's order). */
  sampler: SamplerState;
  /** Where the model's random stream (dropout masks) stands, as the model reports it; null when unseeded. */
  adapter_random: unknown;
  /** Real (non-padding) tokens trained on so far. */
  tokens_seen: number;
  /** The hash of `run`. */
  fingerprint: string;
  /** What determines the result: model, data, adapter config and optimisation settings. */
  run: Record<string, unknown>;
  log_history: LogEntry[];
}

/** A whole checkpoint: the trained model's files (a PEFT adapter folder), the optimizer moments, the state. */
export interface CheckpointData {
  /** File name -> bytes, e.g. adapter_config.json and adapter_model.safetensors. */
  readonly files: ReadonlyMap<string, Uint8Array>;
  readonly optimizer: StateDict;
  readonly state: TrainerState;
}

export interface CheckpointStore {
  /** The steps of every complete checkpoint, ascending. */
  list(): Promise<number[]>;
  /** Writes the checkpoint of `data.state.global_step` whole (replacing one of that step); returns its location. */
  write(data: CheckpointData): Promise<string>;
  read(step: number): Promise<CheckpointData>;
  /** Keeps the newest `keep` checkpoints (0 keeps all). */
  prune(keep: number): Promise<void>;
  /** Where the checkpoint of `step` is (a folder, a key), for messages. */
  location(step: number): string;
}

/** Checks a trainer state read back from a store (a checkpoint may come from an older or a hostile file). */
export function checkTrainerState(value: unknown, step: number, where: string): TrainerState {
  const state = value as TrainerState | null;
  if (state?.format !== TRAINER_STATE_FORMAT || state.version !== 1) {
    throw new ConfigError(`${where}: not a peft.js trainer state (format ${JSON.stringify(state?.format)})`);
  }
  if (state.global_step !== step) {
    throw new ConfigError(`${where}: records step ${state.global_step}, but it is stored as step ${step}`);
  }
  const count = (value: unknown, name: string, max = Number.MAX_SAFE_INTEGER): void => {
    if (!Number.isSafeInteger(value) || (value as number) < 0 || (value as number) > max) {
      throw new ConfigError(
        `${where}: ${name} ${JSON.stringify(value)} is not an integer from 0 to ${max}; the file is damaged: resume from another checkpoint`,
      );
    }
  };
  count(state.max_steps, '"max_steps"');
  count(state.tokens_seen, '"tokens_seen"');
  const sampler = state.sampler as Partial<SamplerState> | null;
  if (typeof sampler !== 'object' || sampler === null) {
    throw new ConfigError(
      `${where}: "sampler" is missing; the file is damaged: resume from another checkpoint`,
    );
  }
  count(sampler.seed, '"sampler.seed"');
  // A step starts at most one new epoch.
  count(sampler.epoch, '"sampler.epoch"', step);
  count(sampler.position, '"sampler.position"');
  if (!Array.isArray(state.log_history)) {
    throw new ConfigError(
      `${where}: "log_history" is not a list; the file is damaged: resume from another checkpoint`,
    );
  }
  return state;
}

/** Checkpoints held in memory, e.g. in a browser tab or a test. Copies on write and read. */
export class MemoryCheckpointStore implements CheckpointStore {
  private readonly checkpoints = new Map<number, CheckpointData>();

  constructor(private readonly name = 'memory') {}

  async list(): Promise<number[]> {
    return [...this.checkpoints.keys()].sort((a, b) => a - b);
  }

  async write(data: CheckpointData): Promise<string> {
    const step = data.state.global_step;
    this.checkpoints.set(step, copyCheckpoint(data));
    return this.location(step);
  }

  async read(step: number): Promise<CheckpointData> {
    const data = this.checkpoints.get(step);
    if (!data) throw new ConfigError(`${this.location(step)} does not exist`);
    return copyCheckpoint(data);
  }

  async prune(keep: number): Promise<void> {
    if (keep <= 0) return;
    const steps = await this.list();
    for (const step of steps.slice(0, Math.max(0, steps.length - keep))) this.checkpoints.delete(step);
  }

  location(step: number): string {
    return `${this.name}:checkpoint-${step}`;
  }
}

function copyCheckpoint(data: CheckpointData): CheckpointData {
  return {
    files: new Map([...data.files].map(([name, bytes]) => [name, bytes.slice()])),
    optimizer: new Map([...data.optimizer].map(([k, t]) => [k, { ...t, data: t.data.slice() }])),
    state: structuredClone(data.state),
  };
}
