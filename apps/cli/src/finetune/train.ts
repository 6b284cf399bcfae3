// A fine-tuning run: load the base model (optionally quantizing it), attach a new adapter or continue a
// checkpoint, train with periodic evaluation and checkpoints, and save the adapter in PEFT format.
// No console or process access: progress goes to callbacks, so the command and the demo share it.
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import {
  ADAPTER_CONFIG_NAME,
  ADAPTER_WEIGHTS_NAME,
  type AdapterConfig,
  adapterRandomState,
  type PeftModel,
  restoreAdapterRandom,
  seedAdapterRandom,
} from '@peft/adapter-bridge';
import { savePretrained } from '@peft/adapter-bridge/node';
import { ConfigError, type StateDict } from '@peft/core';
import type { LlamaForCausalLM } from '@peft/models';
import { BatchSampler, makeBatch, type ScheduleKind, Trainer } from '@peft/training';
import { attachNewAdapter, loadAdapterFolder } from './attach.js';
import { loadBaseModel, type QuantizeChoice } from './base-model.js';
import {
  type Checkpoint,
  type LogEntry,
  listCheckpoints,
  pruneCheckpoints,
  readCheckpoint,
  type TrainerState,
  writeCheckpoint,
} from './checkpoints.js';
import { readDataset } from './dataset.js';
import { ResumeError } from './errors.js';
import { batchTensors, type EvalResult, evaluateLoss } from './evaluate.js';
import { adapterConfigJson, readAdapterConfigFile } from './method-config.js';
import {
  describeRunDifferences,
  fingerprintHash,
  modelFolderFingerprint,
  sha256,
} from './run-fingerprint.js';

/** Optimisation settings; all of them are part of a run's fingerprint. */
export interface OptimisationOptions {
  /** Optimizer steps in the whole run (a resumed run counts the steps already done). */
  steps: number;
  /** Peak learning rate. */
  learningRate: number;
  /** Sequences per step. */
  batchSize: number;
  /** Examples are cut to this many tokens. */
  seqLen: number;
  /** Seeds the data order, the adapter's random init and its dropout masks. */
  seed: number;
  schedule: ScheduleKind;
  warmupSteps: number;
  weightDecay: number;
  /** Clip the global gradient norm to this (0: no clipping). */
  maxGradNorm: number;
}

/** How often to evaluate and save; these do not change the result, so a resumed run may change them. */
export interface ReportingOptions {
  /** Evaluate on the eval data every N steps (0: only at the end). */
  evalEvery: number;
  /** Write a checkpoint every N steps (0: only at the end). */
  saveEvery: number;
  /** How many of the newest checkpoints to keep (0: all). */
  keepCheckpoints: number;
}

export const DEFAULT_REPORTING: ReportingOptions = { evalEvery: 0, saveEvery: 100, keepCheckpoints: 2 };

/** Peak learning rates that suit each method: VeRA trains few parameters and wants a large one. */
export const DEFAULT_LEARNING_RATE: Readonly<Record<string, number>> = { VERA: 1e-2, LORA: 2e-4 };

export function defaultOptimisation(peftType: string): Omit<OptimisationOptions, 'seqLen'> {
  return {
    steps: 100,
    learningRate: DEFAULT_LEARNING_RATE[peftType] ?? 1e-3,
    batchSize: 8,
    seed: 0,
    schedule: 'cosine',
    warmupSteps: 0,
    weightDecay: 0,
    maxGradNorm: 1,
  };
}

export interface FinetuneOptions extends Partial<OptimisationOptions>, Partial<ReportingOptions> {
  modelDir: string;
  /** JSONL of `{"text": ...}` or `{"input_ids": [...]}` rows. */
  trainData: string;
  evalData?: string;
  /** Receives `checkpoint-<step>/` folders and, at the end, the adapter (adapter_config.json + adapter_model.safetensors). */
  outputDir: string;
  /**
   * The adapter to train (a new one), unless `startFrom` is given. On resume the checkpoint's adapter is
   * loaded, and this must be what the run was started with.
   */
  adapter?: AdapterConfig;
  /** Train a saved PEFT adapter folder further (its config and weights), e.g. from `init-adapter` or Python. */
  startFrom?: string;
  quantize?: QuantizeChoice;
  /** Absmax block size when quantizing (default 64). */
  blocksize?: number;
  /** Double quantization when quantizing (default true). */
  doubleQuant?: boolean;
  /** Continue from the newest checkpoint in `outputDir`. */
  resume?: boolean;
  /** Start over in an `outputDir` that already holds a run (its checkpoints and adapter are deleted). */
  overwrite?: boolean;
  /** Aborting stops after the current step, writing a checkpoint to resume from. */
  signal?: AbortSignal;
}

export interface RunStart {
  readonly totalSteps: number;
  /** 0 for a new run, else the checkpoint's step. */
  readonly startStep: number;
  readonly resumedFrom: string | null;
  readonly trainExamples: number;
  readonly evalExamples: number;
  readonly trainableParams: number;
  readonly allParams: number;
  readonly parameterSummary: string;
  /** Storage scheme of the base model's linear layers, counted. */
  readonly schemes: Readonly<Record<string, number>>;
  readonly options: OptimisationOptions & ReportingOptions;
}

export interface StepProgress {
  readonly step: number;
  readonly totalSteps: number;
  readonly loss: number;
  readonly learningRate: number;
  readonly gradNorm: number;
  /** Real (non-padding) tokens per second over this invocation's steps. */
  readonly tokensPerSecond: number;
  readonly elapsedSeconds: number;
  /** Seconds left at this invocation's average step time. */
  readonly etaSeconds: number;
}

export interface FinetuneCallbacks {
  onStart?(info: RunStart): void;
  onStep?(progress: StepProgress): void;
  onEval?(step: number, result: EvalResult): void;
  onCheckpoint?(step: number, dir: string): void;
}

export interface FinetuneResult {
  /** Steps done (all of them when `completed`). */
  readonly step: number;
  readonly totalSteps: number;
  readonly completed: boolean;
  /** The loss of the last step this invocation ran (null if it ran none). */
  readonly lastLoss: number | null;
  /** The final evaluation (null without eval data or when stopped early). */
  readonly eval: EvalResult | null;
  /** Where the trained adapter was written (the output folder), null when stopped early. */
  readonly adapterDir: string | null;
  /** The newest checkpoint. */
  readonly checkpointDir: string | null;
}

function checkPositiveInt(value: number, name: string, min = 1): void {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new ConfigError(`${name} must be an integer >= ${min}, got ${value}`);
  }
}

function resolveOptions(
  options: FinetuneOptions,
  peftType: string,
  maxPositions: number,
): OptimisationOptions & ReportingOptions {
  const defaults = defaultOptimisation(peftType);
  const pick = <K extends keyof OptimisationOptions>(key: K, fallback: OptimisationOptions[K]) =>
    options[key] ?? fallback;
  const resolved = {
    steps: pick('steps', defaults.steps),
    learningRate: pick('learningRate', defaults.learningRate),
    batchSize: pick('batchSize', defaults.batchSize),
    seqLen: pick('seqLen', Math.min(512, maxPositions)),
    seed: pick('seed', defaults.seed),
    schedule: pick('schedule', defaults.schedule),
    warmupSteps: pick('warmupSteps', defaults.warmupSteps),
    weightDecay: pick('weightDecay', defaults.weightDecay),
    maxGradNorm: pick('maxGradNorm', defaults.maxGradNorm),
    evalEvery: options.evalEvery ?? DEFAULT_REPORTING.evalEvery,
    saveEvery: options.saveEvery ?? DEFAULT_REPORTING.saveEvery,
    keepCheckpoints: options.keepCheckpoints ?? DEFAULT_REPORTING.keepCheckpoints,
  };
  checkPositiveInt(resolved.steps, 'steps');
  checkPositiveInt(resolved.batchSize, 'batch size');
  checkPositiveInt(resolved.seqLen, 'sequence length', 2);
  checkPositiveInt(resolved.seed, 'seed', 0);
  checkPositiveInt(resolved.warmupSteps, 'warmup steps', 0);
  checkPositiveInt(resolved.evalEvery, 'eval-every', 0);
  checkPositiveInt(resolved.saveEvery, 'save-every', 0);
  checkPositiveInt(resolved.keepCheckpoints, 'keep-checkpoints', 0);
  if (resolved.seqLen > maxPositions) {
    throw new ConfigError(
      `sequence length ${resolved.seqLen} exceeds the model's max_position_embeddings (${maxPositions})`,
    );
  }
  if (!(resolved.learningRate > 0) || !Number.isFinite(resolved.learningRate)) {
    throw new ConfigError(`learning rate must be a positive number, got ${resolved.learningRate}`);
  }
  if (!(resolved.weightDecay >= 0) || !(resolved.maxGradNorm >= 0)) {
    throw new ConfigError('weight decay and max grad norm must be non-negative');
  }
  return resolved;
}

/** The config and a hash of the weights of an adapter folder a run starts from. */
async function readStartingAdapter(dir: string): Promise<{ config: AdapterConfig; weightsSha256: string }> {
  const config = await readAdapterConfigFile(join(dir, ADAPTER_CONFIG_NAME));
  const weights = await readFile(join(dir, ADAPTER_WEIGHTS_NAME)).catch((cause: Error) => {
    throw new ConfigError(`${join(dir, ADAPTER_WEIGHTS_NAME)} cannot be read: ${cause.message}`);
  });
  return { config, weightsSha256: sha256(weights) };
}

/**
 * Checks the output folder before anything is loaded: `--resume` needs a checkpoint there, a new run
 * refuses an earlier run's files unless `overwrite`. Returns the checkpoint to resume and, for an
 * overwrite, what to delete once the new run has loaded and is about to train (so a run that fails to
 * start leaves the old one in place). Nothing is created here.
 */
async function inspectOutputDir(
  dir: string,
  resume: boolean,
  overwrite: boolean,
): Promise<{ checkpoint: Checkpoint | null; clearPrevious: () => Promise<void> }> {
  const nothing = async () => undefined;
  const info = await stat(dir).catch(() => null);
  if (info && !info.isDirectory()) throw new ConfigError(`output ${dir} is a file; give a folder`);
  const checkpoints = info ? await listCheckpoints(dir) : [];
  if (resume) {
    const latest = checkpoints.at(-1);
    if (!latest) {
      throw new ResumeError(
        `--resume: ${dir} holds no checkpoint-<step> folder to continue; run without --resume to start`,
      );
    }
    return { checkpoint: latest, clearPrevious: nothing };
  }
  const names = info ? await readdir(dir) : [];
  const previous = names.filter((n) => n === ADAPTER_CONFIG_NAME || n === ADAPTER_WEIGHTS_NAME);
  if (previous.length + checkpoints.length === 0) return { checkpoint: null, clearPrevious: nothing };
  if (!overwrite) {
    throw new ConfigError(
      `${dir} already holds a fine-tuning run (${[...checkpoints.map((c) => `checkpoint-${c.step}`), ...previous].join(', ')}); ` +
        'pass --resume to continue it, --overwrite to start over, or choose another output folder',
    );
  }
  return {
    checkpoint: null,
    clearPrevious: async () => {
      for (const c of checkpoints) await rm(c.dir, { recursive: true, force: true });
      for (const n of previous) await rm(join(dir, n), { force: true });
    },
  };
}

/**
 * Fine-tunes an adapter on a model folder. A new run seeds the adapter random stream (init and
 * dropout) and the batch order from `seed`; a resumed run restores both from the checkpoint, with the
 * optimizer moments, so it ends with exactly the adapter an uninterrupted run would have.
 */
export async function runFinetune(
  options: FinetuneOptions,
  callbacks: FinetuneCallbacks = {},
): Promise<FinetuneResult> {
  if ((options.adapter === undefined) === (options.startFrom === undefined)) {
    throw new ConfigError(
      'give either an adapter config to train a new adapter, or an adapter folder to start from',
    );
  }
  const start = options.startFrom ? await readStartingAdapter(options.startFrom) : null;
  const adapterConfig = start?.config ?? options.adapter!;
  const { checkpoint, clearPrevious } = await inspectOutputDir(
    options.outputDir,
    options.resume ?? false,
    options.overwrite ?? false,
  );
  const base = await loadBaseModel(options.modelDir, {
    quantize: options.quantize ?? 'none',
    ...(options.blocksize === undefined ? {} : { blocksize: options.blocksize }),
    ...(options.doubleQuant === undefined ? {} : { doubleQuant: options.doubleQuant }),
  });
  const { model, config } = base;
  const previousRandom = adapterRandomState();
  let peft: PeftModel | null = null;
  try {
    const settings = resolveOptions(options, adapterConfig.peft_type, config.maxPositionEmbeddings);
    const eos = config.eosTokenIds[0] ?? null;
    const dataOptions = {
      tokenizer: base.tokenizer,
      vocabSize: config.vocabSize,
      maxLength: settings.seqLen,
      eosTokenId: eos,
    };
    const train = await readDataset(options.trainData, dataOptions);
    const evalSet = options.evalData ? await readDataset(options.evalData, dataOptions) : null;

    const { evalEvery: _e, saveEvery: _s, keepCheckpoints: _k, ...optimisation } = settings;
    const run: Record<string, unknown> = {
      model: await modelFolderFingerprint(options.modelDir),
      quantize:
        options.quantize && options.quantize !== 'none'
          ? {
              type: options.quantize,
              blocksize: options.blocksize ?? 64,
              double_quant: options.doubleQuant ?? true,
            }
          : 'none',
      train_data_sha256: sha256(train.text),
      adapter: adapterConfigJson(adapterConfig),
      ...(start ? { start_from_sha256: start.weightsSha256 } : {}),
      ...optimisation,
    };
    const fingerprint = fingerprintHash(run);

    let resumeState: { state: TrainerState; optimizer: StateDict } | null = null;
    if (checkpoint) {
      resumeState = await readCheckpoint(checkpoint);
      if (resumeState.state.fingerprint !== fingerprint) {
        const changes = describeRunDifferences(resumeState.state.run, run);
        throw new ResumeError(
          `${checkpoint.dir} belongs to a run with other settings (${changes.join('; ') || 'fingerprint differs'}); ` +
            'resume with the options, model and data of that run, or start a new run in another folder',
        );
      }
      peft = await loadAdapterFolder(model, checkpoint.dir, { trainable: true, modelName: options.modelDir });
    } else {
      seedAdapterRandom(settings.seed);
      peft = options.startFrom
        ? await loadAdapterFolder(model, options.startFrom, { trainable: true, modelName: options.modelDir })
        : attachNewAdapter(model, adapterConfig);
    }
    await clearPrevious();
    const padTokenId = config.padTokenId ?? eos ?? 0;
    return await trainLoop({
      model,
      peft,
      train: train.sequences,
      eval: evalSet?.sequences ?? null,
      padTokenId,
      settings,
      outputDir: options.outputDir,
      run,
      fingerprint,
      resume: resumeState,
      schemes: base.schemes,
      ...(options.signal ? { signal: options.signal } : {}),
      callbacks,
    });
  } finally {
    restoreAdapterRandom(previousRandom);
    if (peft) peft.dispose();
    else model.dispose();
  }
}

/** Resolves on a later turn of the event loop (a macrotask, so signal handlers and timers run first). */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

interface TrainLoopInput {
  model: LlamaForCausalLM;
  peft: PeftModel;
  train: number[][];
  eval: number[][] | null;
  padTokenId: number;
  settings: OptimisationOptions & ReportingOptions;
  outputDir: string;
  run: Record<string, unknown>;
  fingerprint: string;
  resume: { state: TrainerState; optimizer: StateDict } | null;
  schemes: Readonly<Record<string, number>>;
  signal?: AbortSignal;
  callbacks: FinetuneCallbacks;
}

async function trainLoop(input: TrainLoopInput): Promise<FinetuneResult> {
  const { model, peft, settings, callbacks, resume } = input;
  const counts = peft.parameterCounts();
  const trainer = new Trainer({
    variables: new Map(peft.namedTrainableVariables()),
    schedule: {
      kind: settings.schedule,
      peak: settings.learningRate,
      warmupSteps: settings.warmupSteps,
      totalSteps: settings.steps,
    },
    maxGradNorm: settings.maxGradNorm,
    weightDecay: settings.weightDecay,
  });
  try {
    const sampler = new BatchSampler(
      input.train.length,
      settings.batchSize,
      settings.seed,
      resume?.state.sampler,
    );
    const history: LogEntry[] = resume ? [...resume.state.log_history] : [];
    let tokensSeen = resume?.state.tokens_seen ?? 0;
    if (resume) {
      trainer.optimizer.loadStateDict(resume.optimizer);
      restoreAdapterRandom(resume.state.adapter_random);
      if (trainer.step !== resume.state.global_step) {
        throw new ResumeError(
          `the optimizer state records ${trainer.step} steps but the trainer state ${resume.state.global_step}`,
        );
      }
    }
    const startStep = trainer.step;
    callbacks.onStart?.({
      totalSteps: settings.steps,
      startStep,
      resumedFrom: resume ? join(input.outputDir, `checkpoint-${startStep}`) : null,
      trainExamples: input.train.length,
      evalExamples: input.eval?.length ?? 0,
      trainableParams: counts.trainable,
      allParams: counts.all,
      parameterSummary: peft.trainableParametersSummary(),
      schemes: input.schemes,
      options: settings,
    });

    const evaluate = (step: number): EvalResult | null => {
      if (!input.eval) return null;
      const result = evaluateLoss(model, input.eval, {
        batchSize: settings.batchSize,
        maxSeqLen: settings.seqLen,
        padTokenId: input.padTokenId,
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
    const save = async (step: number): Promise<string> => {
      const state: TrainerState = {
        format: 'peft.js trainer state',
        version: 1,
        global_step: step,
        max_steps: settings.steps,
        sampler: sampler.state(),
        adapter_random: adapterRandomState(),
        tokens_seen: tokensSeen,
        fingerprint: input.fingerprint,
        run: input.run,
        log_history: history,
      };
      const dir = await writeCheckpoint(input.outputDir, peft, trainer.optimizer.stateDict(), state);
      await pruneCheckpoints(input.outputDir, settings.keepCheckpoints);
      callbacks.onCheckpoint?.(step, dir);
      return dir;
    };

    peft.train();
    const started = Date.now();
    let tokensThisRun = 0;
    let lastLoss: number | null = null;
    let lastCheckpoint: string | null = resume ? join(input.outputDir, `checkpoint-${startStep}`) : null;
    let savedAt = startStep;
    let step = startStep;
    while (step < settings.steps) {
      // A step is synchronous work; yielding between steps lets Ctrl-C (the abort signal), timers and a
      // browser's UI run.
      await nextTurn();
      if (input.signal?.aborted) break;
      step++;
      const rows = sampler.next().map((i) => input.train[i]!);
      const batch = makeBatch(rows, input.padTokenId, settings.seqLen);
      const result = trainer.trainStep(() => model.loss(batchTensors(batch)));
      const realTokens = batch.attentionMask.reduce((sum, m) => sum + m, 0);
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
      callbacks.onStep?.({
        step,
        totalSteps: settings.steps,
        loss: result.loss,
        learningRate: result.learningRate,
        gradNorm: result.gradNorm,
        tokensPerSecond: elapsed > 0 ? tokensThisRun / elapsed : 0,
        elapsedSeconds: elapsed,
        etaSeconds: (elapsed / (step - startStep)) * (settings.steps - step),
      });
      if (step === settings.steps) break;
      if (settings.evalEvery > 0 && step % settings.evalEvery === 0) evaluate(step);
      if (settings.saveEvery > 0 && step % settings.saveEvery === 0) {
        lastCheckpoint = await save(step);
        savedAt = step;
      }
    }
    if (step < settings.steps) {
      // Stopped: keep what the steps of this invocation did, to resume from.
      if (savedAt !== step) lastCheckpoint = await save(step);
      return {
        step,
        totalSteps: settings.steps,
        completed: false,
        lastLoss,
        eval: null,
        adapterDir: null,
        checkpointDir: lastCheckpoint,
      };
    }
    peft.eval();
    const finalEval = evaluate(settings.steps);
    if (startStep < settings.steps) lastCheckpoint = await save(settings.steps);
    await savePretrained(peft, input.outputDir);
    return {
      step: settings.steps,
      totalSteps: settings.steps,
      completed: true,
      lastLoss,
      eval: finalEval,
      adapterDir: input.outputDir,
      checkpointDir: lastCheckpoint,
    };
  } finally {
    trainer.dispose();
  }
}
