// The training run: batches from a seeded sampler, one asynchronous step path (WebGPU-safe, and the same
// bytes on every backend that computes the same numbers), periodic evaluation and checkpoints, resume,
// cancellation. Used by `finetune()` in Node, the CLI and the web app alike.
import { ConfigError, PeftError } from '@peft/core';
import * as tf from '@tensorflow/tfjs-core';
import { type Batch, BatchSampler, makeBatch } from './batches.js';
import {
  type CheckpointData,
  type CheckpointStore,
  type LogEntry,
  TRAINER_STATE_FORMAT,
  type TrainerState,
} from './checkpoint-store.js';
import { type EvalResult, evaluate } from './evaluate.js';
import { describeRunDifferences, fingerprintHash } from './fingerprint.js';
import type { ExampleInput } from './jsonl.js';
import type { TrainableModel } from './trainable.js';
import { Trainer, type WeightedLoss } from './trainer.js';
import type { TrainingArguments } from './training-arguments.js';
import { isTrainingDiverged } from './training-diverged.js';

/** A resume that cannot continue: the checkpoint belongs to other settings, model or data, or is inconsistent. */
export class ResumeError extends PeftError {
  constructor(message: string) {
    super('RESUME', message);
  }
}

export interface RunStart {
  readonly totalSteps: number;
  /** 0 for a new run, else the checkpoint's step. */
  readonly startStep: number;
  readonly resumedFrom: string | null;
  readonly trainExamples: number;
  readonly evalExamples: number;
  readonly args: TrainingArguments;
}

export interface StepProgress {
  readonly step: number;
  readonly totalSteps: number;
  readonly loss: number;
  readonly learningRate: number;
  readonly gradNorm: number;
  /** Real (non-padding) tokens of this step. */
  readonly tokens: number;
  /** Real tokens per second over this invocation's steps. */
  readonly tokensPerSecond: number;
  readonly elapsedSeconds: number;
  /** Seconds left at this invocation's average step time. */
  readonly etaSeconds: number;
  /** TensorFlow.js' bytes and tensors after the step. */
  readonly tfBytes: number;
  readonly tfTensors: number;
}

export interface TrainCallbacks {
  onStart?(info: RunStart): void;
  onStep?(progress: StepProgress): void;
  /** Evaluation batches done (for a progress bar). */
  onEvalProgress?(done: number, total: number): void;
  onEval?(step: number, result: EvalResult): void;
  onCheckpoint?(step: number, location: string): void;
}

export interface TrainOptions {
  model: TrainableModel;
  /** Token ids per training example, or examples with per-token labels (loss on labelled tokens only). */
  train: readonly ExampleInput[];
  /** Held-out examples, evaluated every `args.evalEvery` steps and at the end. */
  eval?: readonly ExampleInput[] | null;
  padTokenId: number;
  args: TrainingArguments;
  /** Receives checkpoints every `args.saveEvery` steps, when stopped, and at the end; none: no checkpoints. */
  store?: CheckpointStore | null;
  /** What determines the result besides `args` (model, data, adapter...), fingerprinted into checkpoints. */
  run?: Readonly<Record<string, unknown>>;
  /** Continue from this checkpoint (see `findResumePoint`); the model must already hold its files. */
  resumeFrom?: CheckpointData | null;
  /** Aborting stops after the current step and writes a checkpoint to resume from. */
  signal?: AbortSignal;
  callbacks?: TrainCallbacks;
}

export interface TrainResult {
  /** Steps done (all of them when `completed`). */
  readonly step: number;
  readonly totalSteps: number;
  readonly completed: boolean;
  /** The loss of the last step this invocation ran (null if it ran none). */
  readonly lastLoss: number | null;
  /** The final evaluation (null without eval data or when stopped early). */
  readonly eval: EvalResult | null;
  /** The newest checkpoint's location (null without a store or before the first). */
  readonly checkpoint: string | null;
  /** Real tokens trained on, over the whole run. */
  readonly tokensSeen: number;
  readonly history: readonly LogEntry[];
}

/** The fingerprinted description of a run: `run` plus the optimisation settings. */
export function runDescription(
  args: TrainingArguments,
  run: Readonly<Record<string, unknown>> = {},
): Record<string, unknown> {
  const { evalEvery: _e, saveEvery: _s, keepCheckpoints: _k, ...optimisation } = args;
  // 1 (no accumulation) is left out, so checkpoints written before the setting existed still resume.
  const gradAccumSteps = optimisation.gradAccumSteps === 1 ? undefined : optimisation.gradAccumSteps;
  return { ...run, ...optimisation, gradAccumSteps };
}

/**
 * The newest checkpoint in `store`, checked to belong to this run (same fingerprint), or null when the
 * store holds none. A checkpoint of other settings is a `ResumeError` listing what differs.
 */
export async function findResumePoint(
  store: CheckpointStore,
  args: TrainingArguments,
  run: Readonly<Record<string, unknown>> = {},
): Promise<CheckpointData | null> {
  const step = (await store.list()).at(-1);
  if (step === undefined) return null;
  const checkpoint = await store.read(step);
  const description = runDescription(args, run);
  if (checkpoint.state.fingerprint !== (await fingerprintHash(description))) {
    const changes = describeRunDifferences(checkpoint.state.run, description);
    throw new ResumeError(
      `${store.location(step)} belongs to a run with other settings (${changes.join('; ') || 'fingerprint differs'}); ` +
        'resume with the options, model and data of that run, or start a new run elsewhere',
    );
  }
  return checkpoint;
}

/** A step's rows as consecutive batches of `batchSize` rows, each padded on its own. */
function microBatches(
  rows: readonly ExampleInput[],
  batchSize: number,
  padId: number,
  seqLen: number,
): Batch[] {
  const batches: Batch[] = [];
  for (let i = 0; i < rows.length; i += batchSize) {
    batches.push(makeBatch(rows.slice(i, i + batchSize), padId, seqLen));
  }
  return batches;
}

/**
 * Each micro-batch's mean loss weighted by its share of the step's predicted tokens, so the weighted sum is
 * the mean over all of them, as one batch of all the rows would give. (A step predicting no token weighs
 * its batches equally: their losses are constant.)
 */
function weightedLosses(model: TrainableModel, batches: readonly Batch[]): WeightedLoss[] {
  const total = batches.reduce((sum, b) => sum + b.predictedTokens, 0);
  // A micro-batch that predicts nothing adds nothing (and its mean over no token is not evaluated).
  const used = total > 0 ? batches.filter((b) => b.predictedTokens > 0) : batches;
  return used.map((batch) => ({
    loss: () => model.loss(batch),
    weight: total > 0 ? batch.predictedTokens / total : 1 / used.length,
  }));
}

/** Resolves on a later turn of the event loop (a macrotask, so signal handlers, timers and a UI run first). */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

function assertFiniteState(optimizer: CheckpointData['optimizer'], where: string): void {
  for (const [name, tensor] of optimizer) {
    if (tensor.dtype !== 'F32') continue;
    const values = new Float32Array(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength / 4);
    if (values.some((v) => !Number.isFinite(v))) {
      throw new ResumeError(
        `${where}: the optimizer state ${name} holds NaN or infinite values; resume from an earlier checkpoint`,
      );
    }
  }
}

/**
 * Trains `model` on `train`. A new run draws batches from a sampler seeded with `args.seed`; a resumed
 * run restores the sampler, the optimizer moments and the model's random stream from the checkpoint, so
 * it ends with exactly what an uninterrupted run would have.
 */
export async function train(options: TrainOptions): Promise<TrainResult> {
  const { model, args, callbacks = {}, store = null } = options;
  const resume = options.resumeFrom ?? null;
  if (options.train.length === 0) throw new ConfigError('no training examples');
  const description = runDescription(args, options.run);
  // Only checkpoints need the fingerprint: a run without a store never hashes (a browser page outside a
  // secure context has no Web Crypto).
  const fingerprint = store || resume ? await fingerprintHash(description) : '';
  if (resume && resume.state.fingerprint !== fingerprint) {
    throw new ResumeError('the checkpoint to resume belongs to a run with other settings');
  }
  const trainer = new Trainer({
    variables: model.trainableVariables(),
    schedule: {
      kind: args.schedule,
      peak: args.learningRate,
      warmupSteps: args.warmupSteps,
      totalSteps: args.steps,
    },
    maxGradNorm: args.maxGradNorm,
    weightDecay: args.weightDecay,
  });
  const wasTraining = model.training;
  try {
    const accumSteps = args.gradAccumSteps ?? 1;
    // The sampler draws a whole step's rows, so a step sees the rows one batch of batchSize x accumSteps would.
    const sampler = new BatchSampler(
      options.train.length,
      args.batchSize * accumSteps,
      args.seed,
      resume?.state.sampler,
      `${store?.location(resume?.state.global_step ?? 0) ?? 'the checkpoint'}: trainer_state.json`,
    );
    const history: LogEntry[] = resume ? [...resume.state.log_history] : [];
    let tokensSeen = resume?.state.tokens_seen ?? 0;
    const startStep = resume?.state.global_step ?? 0;
    if (resume) {
      const where = store?.location(startStep) ?? 'the checkpoint';
      assertFiniteState(resume.optimizer, where);
      trainer.optimizer.loadStateDict(resume.optimizer);
      model.restoreRandomState(resume.state.adapter_random);
      if (trainer.step !== startStep) {
        throw new ResumeError(
          `${where}: the optimizer state records ${trainer.step} steps but the trainer state ${startStep}`,
        );
      }
    }
    callbacks.onStart?.({
      totalSteps: args.steps,
      startStep,
      resumedFrom: resume && store ? store.location(startStep) : null,
      trainExamples: options.train.length,
      evalExamples: options.eval?.length ?? 0,
      args,
    });

    const runEvaluation = async (step: number): Promise<EvalResult | null> => {
      if (!options.eval || options.eval.length === 0) return null;
      const result = await evaluate(model, options.eval, {
        batchSize: args.batchSize,
        seqLen: args.seqLen,
        padTokenId: options.padTokenId,
        ...(callbacks.onEvalProgress ? { onProgress: callbacks.onEvalProgress } : {}),
      });
      history.push({
        step,
        eval_loss: result.loss,
        eval_perplexity: result.perplexity,
        eval_tokens: result.tokens,
      });
      callbacks.onEval?.(step, result);
      return result;
    };
    const save = async (step: number): Promise<string | null> => {
      if (!store) return null;
      const state: TrainerState = {
        format: TRAINER_STATE_FORMAT,
        version: 1,
        global_step: step,
        max_steps: args.steps,
        sampler: sampler.state(),
        adapter_random: model.randomState(),
        tokens_seen: tokensSeen,
        fingerprint,
        run: description,
        log_history: history,
      };
      const location = await store.write({
        files: await model.saveFiles(),
        optimizer: trainer.optimizer.stateDict(),
        state,
      });
      await store.prune(args.keepCheckpoints);
      callbacks.onCheckpoint?.(step, location);
      return location;
    };

    model.setTraining(true);
    const started = Date.now();
    let tokensThisRun = 0;
    let lastLoss: number | null = null;
    let lastCheckpoint: string | null = resume && store ? store.location(startStep) : null;
    let savedAt = startStep;
    let step = startStep;
    while (step < args.steps) {
      // Yielding between steps lets an abort signal, timers and a browser's UI run.
      await nextTurn();
      if (options.signal?.aborted) break;
      step++;
      const rows = sampler.next().map((i) => options.train[i]!);
      const batches = microBatches(rows, args.batchSize, options.padTokenId, args.seqLen);
      // A diverged step names the checkpoint to continue from (nothing is saved after it).
      // The step's forward and backward passes run before its first await, inside the model's stream.
      const step_ = () =>
        trainer.trainStepAsync(
          batches.length === 1 ? () => model.loss(batches[0]!) : weightedLosses(model, batches),
        );
      const result = await (model.inRandomStream ? model.inRandomStream(step_) : step_()).catch(
        (error: unknown) => {
          throw isTrainingDiverged(error) ? error.withCheckpoint(lastCheckpoint) : error;
        },
      );
      const realTokens = batches.reduce(
        (sum, batch) => sum + batch.attentionMask.reduce((n, m) => n + m, 0),
        0,
      );
      tokensSeen += realTokens;
      tokensThisRun += realTokens;
      lastLoss = result.loss;
      history.push({
        step,
        loss: result.loss,
        learning_rate: result.learningRate,
        grad_norm: result.gradNorm,
      });
      const elapsed = (Date.now() - started) / 1000;
      const memory = tf.memory();
      callbacks.onStep?.({
        step,
        totalSteps: args.steps,
        loss: result.loss,
        learningRate: result.learningRate,
        gradNorm: result.gradNorm,
        tokens: realTokens,
        tokensPerSecond: elapsed > 0 ? tokensThisRun / elapsed : 0,
        elapsedSeconds: elapsed,
        etaSeconds: (elapsed / (step - startStep)) * (args.steps - step),
        tfBytes: memory.numBytes,
        tfTensors: memory.numTensors,
      });
      if (step === args.steps) break;
      if (args.evalEvery > 0 && step % args.evalEvery === 0) await runEvaluation(step);
      if (args.saveEvery > 0 && step % args.saveEvery === 0) {
        lastCheckpoint = await save(step);
        savedAt = step;
      }
    }
    const stopped = step < args.steps;
    if (stopped) {
      // Keep what the steps of this invocation did, to resume from.
      if (savedAt !== step) lastCheckpoint = (await save(step)) ?? lastCheckpoint;
    } else {
      model.setTraining(false);
    }
    const finalEval = stopped ? null : await runEvaluation(args.steps);
    if (!stopped && startStep < args.steps) lastCheckpoint = (await save(args.steps)) ?? lastCheckpoint;
    return {
      step,
      totalSteps: args.steps,
      completed: !stopped,
      lastLoss,
      eval: finalEval,
      checkpoint: lastCheckpoint,
      tokensSeen,
      history,
    };
  } finally {
    trainer.dispose();
    model.setTraining(wasTraining);
  }
}
