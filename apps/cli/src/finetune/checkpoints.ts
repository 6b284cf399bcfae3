// Training checkpoints: `<output>/checkpoint-<step>/` holding the adapter in PEFT format, the optimizer
// moments and the trainer state. Each is assembled in a staging folder and renamed into place, so a
// checkpoint folder is always complete; an interrupted save leaves the previous ones untouched.
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { AdapterRandomState, PeftModel } from '@peft/adapter-bridge';
import { savePretrained } from '@peft/adapter-bridge/node';
import { ConfigError, type StateDict } from '@peft/core';
import { openSafetensorsFile, writeFileAtomic, writeSafetensorsFile } from '@peft/core/node';
import type { SamplerState } from '@peft/training';

export const TRAINER_STATE_NAME = 'trainer_state.json';
export const OPTIMIZER_NAME = 'optimizer.safetensors';
const TRAINER_STATE_FORMAT = 'peft.js trainer state';
const CHECKPOINT_DIR = /^checkpoint-(\d+)$/;

/** One entry of the run's history: a training step, or an evaluation. */
export type LogEntry =
  | { step: number; loss: number; learning_rate: number; grad_norm: number }
  | { step: number; eval_loss: number; eval_perplexity: number; eval_tokens: number };

/** Everything besides the adapter and the optimizer moments that a resumed run needs. */
export interface TrainerState {
  format: typeof TRAINER_STATE_FORMAT;
  version: 1;
  /** Optimisation steps done. */
  global_step: number;
  max_steps: number;
  /** Where the batch sampler stands (seed, epoch, position in the epoch's order). */
  sampler: SamplerState;
  /** Where the adapter random stream (dropout masks) stands; null when unseeded. */
  adapter_random: AdapterRandomState | null;
  /** Real (non-padding) tokens trained on so far. */
  tokens_seen: number;
  /** The hash of `run`. */
  fingerprint: string;
  /** What determines the result: model, data, adapter config and optimisation settings. */
  run: Record<string, unknown>;
  log_history: LogEntry[];
}

export interface Checkpoint {
  readonly dir: string;
  readonly step: number;
}

export function checkpointDirName(step: number): string {
  return `checkpoint-${step}`;
}

/** Every complete checkpoint in `outputDir`, oldest first. */
export async function listCheckpoints(outputDir: string): Promise<Checkpoint[]> {
  const entries = await readdir(outputDir, { withFileTypes: true }).catch(() => []);
  const found: Checkpoint[] = [];
  for (const entry of entries) {
    const m = CHECKPOINT_DIR.exec(entry.name);
    if (!m || !entry.isDirectory()) continue;
    const dir = join(outputDir, entry.name);
    if (await stat(join(dir, TRAINER_STATE_NAME)).catch(() => null)) found.push({ dir, step: Number(m[1]) });
  }
  return found.sort((a, b) => a.step - b.step);
}

/** Writes `checkpoint-<step>` (replacing one of that step) and returns its path. */
export async function writeCheckpoint(
  outputDir: string,
  peft: PeftModel,
  optimizerState: StateDict,
  state: TrainerState,
): Promise<string> {
  // mkdir, not mkdtemp: the checkpoint keeps the usual folder permissions once renamed into place.
  const staging = join(outputDir, `.checkpoint-staging-${randomBytes(6).toString('hex')}`);
  await mkdir(staging, { recursive: true });
  const target = join(outputDir, checkpointDirName(state.global_step));
  try {
    await savePretrained(peft, staging);
    await writeSafetensorsFile(join(staging, OPTIMIZER_NAME), optimizerState, { format: 'pt' });
    await writeFileAtomic(join(staging, TRAINER_STATE_NAME), `${JSON.stringify(state, null, 2)}\n`);
    // rename() cannot replace a non-empty folder: move an old one of the same step aside first.
    const old = (await stat(target).catch(() => null)) ? `${staging}-replaced` : null;
    if (old) await rename(target, old);
    await rename(staging, target);
    if (old) await rm(old, { recursive: true, force: true });
    return target;
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    throw error;
  }
}

/** Keeps the newest `keep` checkpoints (0 keeps all). */
export async function pruneCheckpoints(outputDir: string, keep: number): Promise<void> {
  if (keep <= 0) return;
  const all = await listCheckpoints(outputDir);
  for (const old of all.slice(0, Math.max(0, all.length - keep))) {
    await rm(old.dir, { recursive: true, force: true });
  }
}

/** Reads and checks a checkpoint's trainer state and optimizer moments. */
export async function readCheckpoint(
  checkpoint: Checkpoint,
): Promise<{ state: TrainerState; optimizer: StateDict }> {
  const path = join(checkpoint.dir, TRAINER_STATE_NAME);
  let state: TrainerState;
  try {
    state = JSON.parse(await readFile(path, 'utf8')) as TrainerState;
  } catch (cause) {
    throw new ConfigError(`${path}: cannot be read as JSON (${(cause as Error).message})`);
  }
  if (state?.format !== TRAINER_STATE_FORMAT || state.version !== 1) {
    throw new ConfigError(`${path}: not a peft.js trainer state (format ${JSON.stringify(state?.format)})`);
  }
  if (state.global_step !== checkpoint.step) {
    throw new ConfigError(`${path}: records step ${state.global_step}, but its folder is ${checkpoint.dir}`);
  }
  const file = await openSafetensorsFile(join(checkpoint.dir, OPTIMIZER_NAME));
  try {
    return { state, optimizer: await file.readAll() };
  } finally {
    await file.close();
  }
}
