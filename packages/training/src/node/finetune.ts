// `finetune(options)`: one call from a model folder and a JSONL file to a trained PEFT adapter folder, with
// checkpoints, exact resume, evaluation and progress. Its options are the `peft finetune` flags in camelCase.
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import {
  ADAPTER_CONFIG_NAME,
  ADAPTER_WEIGHTS_NAME,
  type AdapterConfig,
  adapterConfigFromOptions,
  adapterRandomState,
  getPeftMethod,
  type PeftModel,
  restoreAdapterRandom,
} from '@peft/adapter-bridge';
import { savePretrained } from '@peft/adapter-bridge/node';
import { type BackendChoice, setupBackend } from '@peft/backends';
import { ConfigError } from '@peft/core';
import * as tf from '@tensorflow/tfjs-core';
import { attachNewAdapter, evaluableModel, RunRandomStream, trainableAdapter } from '../adapters.js';
import { type EvalResult, evaluate } from '../evaluate.js';
import { sha256Hex } from '../fingerprint.js';
import { findResumePoint, ResumeError, type StepProgress, type TrainCallbacks, train } from '../train.js';
import { resolveTrainingArguments, type TrainingArguments } from '../training-arguments.js';
import { adapterConfigAsJson, readAdapterConfigFile } from './adapter-config-file.js';
import { loadAdapterFolder } from './adapters.js';
import { readDataset, resolveDataFiles } from './dataset.js';
import { FileCheckpointStore } from './file-checkpoint-store.js';
import { asOutOfMemory, checkTrainingMemory } from './memory-check.js';
import { MetricsLog } from './metrics-log.js';
import { modelFolderFingerprint } from './model-fingerprint.js';
import { loadModelFolder, type QuantizeOptions } from './model-folder.js';

/** Options that describe a new adapter by method (PEFT's fields, camelCased). */
export interface MethodOptions {
  /** A registered method's name, e.g. "vera" or "lora" (default "vera"). */
  method?: string;
  r?: number;
  /** Names (exact or dotted suffix), "all-linear", or a regex string (full match); unset: the method's default. */
  targetModules?: string[] | string;
  /** `vera_dropout` / `lora_dropout`. */
  dropout?: number;
  bias?: string;
  layersToTransform?: number[];
  modulesToSave?: string[];
  /** VeRA: d_initial, projection_prng_key, save_projection. */
  dInitial?: number;
  projectionPrngKey?: number;
  saveProjection?: boolean;
  /** LoRA: lora_alpha, use_rslora, init_lora_weights. */
  loraAlpha?: number;
  useRslora?: boolean;
  initLoraWeights?: boolean | 'gaussian';
  /** Options of methods from other packages, by the names their contract declares. */
  methodOptions?: Readonly<Record<string, unknown>>;
}

export interface BackendOptions {
  /** Set up this TensorFlow.js backend first (default: keep the active one; "auto" if none is registered). */
  backend?: BackendChoice;
  /** Threads for the 4-bit products on wasm in Node (default 1). */
  kernelThreads?: number | 'auto';
}

export interface FinetuneOptions
  extends MethodOptions,
    QuantizeOptions,
    BackendOptions,
    Partial<TrainingArguments> {
  /** The Hugging Face model folder. */
  model: string;
  /**
   * Training data: a JSONL file of `{"text"}`, `{"prompt", "completion"}`, `{"messages"}` or `{"input_ids", "labels"?}` rows,
   * or a folder holding `train.jsonl` (and `valid.jsonl`, the eval data when `evalData` is not given).
   */
  data: string;
  /** Held-out data, evaluated every `evalEvery` steps and at the end. */
  evalData?: string;
  /**
   * Chat (`{"messages"}`) rows, rendered with the model's chat template, learn only the assistant turns
   * (default true, as prompt-completion rows learn only the completion); false learns every token.
   */
  assistantOnlyLoss?: boolean;
  /** Receives `checkpoint-<step>/` folders and, at the end, the adapter. */
  output: string;
  /** Take the new adapter from a PEFT adapter_config.json (a path) or a config object, instead of the method options. */
  adapterConfig?: string | AdapterConfig;
  /** Train a saved PEFT adapter folder further (its config and weights). */
  adapter?: string;
  /** Continue the run in `output` from its newest checkpoint. */
  resume?: boolean;
  /** Start over in an `output` that already holds a run (its checkpoints and adapter are deleted). */
  overwrite?: boolean;
  /**
   * Activation checkpointing per decoder layer: each layer keeps only its input and runs again in the backward
   * pass (about a third more compute, a fraction of the activation memory). Gradients are those of a run
   * without it (to float32 rounding), so it is not part of a run's fingerprint.
   */
  gradientCheckpointing?: boolean;
  /** Aborting stops after the current step, writing a checkpoint to resume from. */
  signal?: AbortSignal;
  callbacks?: FinetuneCallbacks;
}

export interface FinetuneStart {
  readonly totalSteps: number;
  readonly startStep: number;
  readonly resumedFrom: string | null;
  readonly trainExamples: number;
  readonly evalExamples: number;
  readonly trainableParams: number;
  readonly allParams: number;
  readonly parameterSummary: string;
  /** Storage scheme of the base model's linear layers, counted. */
  readonly schemes: Readonly<Record<string, number>>;
  readonly args: TrainingArguments;
}

/** A step's progress with the process's memory: what the CLI's progress line shows. */
export interface FinetuneStepProgress extends StepProgress {
  /** Resident set size after the step. */
  readonly rssBytes: number;
  /** The process's peak resident set size so far (the OS's high-water mark). */
  readonly peakRssBytes: number;
  /** Size of TensorFlow.js' wasm heap (its high-water mark: a wasm memory never shrinks), or 0 on another backend. */
  readonly wasmHeapBytes: number;
}

export interface FinetuneCallbacks extends Omit<TrainCallbacks, 'onStart' | 'onStep'> {
  onStart?(info: FinetuneStart): void;
  onStep?(progress: FinetuneStepProgress): void;
}

/** What a run did; the CLI prints it (`--json`: this object). */
export interface FinetuneSummary {
  /** Steps done (all of them when `completed`). */
  readonly step: number;
  readonly totalSteps: number;
  readonly completed: boolean;
  /** The loss of the last step this invocation ran (null if it ran none). */
  readonly lastLoss: number | null;
  /** The final evaluation (null without eval data or when stopped early). */
  readonly eval: EvalResult | null;
  /** The trained adapter on the data folder's `test.jsonl`, once at the end (null without one or when stopped early). */
  readonly test: EvalResult | null;
  /** Where the trained adapter was written (the output folder), null when stopped early. */
  readonly adapterDir: string | null;
  /** The newest checkpoint. */
  readonly checkpointDir: string | null;
  readonly tokensSeen: number;
  readonly trainableParams: number;
  /** The process's peak resident set size during the run. */
  readonly peakRssBytes: number;
  /** The most bytes TensorFlow.js held after any step. */
  readonly peakTfBytes: number;
  /** Real (non-padding) tokens per second from the first step to the last (loading not counted; evaluations and checkpoints between steps are). */
  readonly tokensPerSecond: number;
  /** TensorFlow.js' wasm heap at the end (its high-water mark), or 0 on another backend. */
  readonly wasmHeapBytes: number;
  readonly gradientCheckpointing: boolean;
}

/** The bytes of TensorFlow.js' wasm heap, or 0 when another backend is active. */
export function wasmHeapBytes(): number {
  if (tf.getBackend() !== 'wasm') return 0;
  const backend = tf.backend() as unknown as { wasm?: { HEAPU8?: Uint8Array } };
  return backend.wasm?.HEAPU8?.buffer.byteLength ?? 0;
}

/** The process's peak resident set size (bytes). */
function peakRss(): number {
  return process.resourceUsage().maxRSS * 1024;
}

const METHOD_FIELDS = [
  'r',
  'targetModules',
  'dropout',
  'bias',
  'layersToTransform',
  'modulesToSave',
  'dInitial',
  'projectionPrngKey',
  'saveProjection',
  'loraAlpha',
  'useRslora',
  'initLoraWeights',
] as const;

/** The method options that were given, as `adapterConfigFromOptions` takes them. */
export function givenMethodOptions(options: MethodOptions): Record<string, unknown> {
  const given: Record<string, unknown> = { ...options.methodOptions };
  for (const key of METHOD_FIELDS) if (options[key] !== undefined) given[key] = options[key];
  return given;
}

/** The adapter config a run trains: from the method options, a config file or object. */
export async function resolveAdapterConfig(
  options: MethodOptions & { adapterConfig?: string | AdapterConfig },
): Promise<AdapterConfig> {
  if (options.adapterConfig !== undefined) {
    const given = Object.keys(givenMethodOptions(options));
    if (given.length > 0 || options.method !== undefined) {
      throw new ConfigError(
        `adapterConfig gives the whole adapter config; drop ${[...(options.method ? ['method'] : []), ...given].join(', ')}`,
      );
    }
    return typeof options.adapterConfig === 'string'
      ? readAdapterConfigFile(options.adapterConfig)
      : options.adapterConfig;
  }
  return adapterConfigFromOptions(options.method ?? 'vera', givenMethodOptions(options));
}

/** Sets up the requested backend, or a default one when none is registered. */
export async function ensureBackend(options: BackendOptions): Promise<void> {
  const registered = Object.keys(tf.engine().registryFactory).length > 0;
  if (options.backend === undefined && registered && options.kernelThreads === undefined) return;
  await setupBackend(options.backend ?? 'auto', {
    ...(options.kernelThreads === undefined ? {} : { kernelThreads: options.kernelThreads }),
  });
}

/**
 * Checks the output folder before anything is loaded: `resume` needs a checkpoint there, a new run refuses
 * an earlier run's files unless `overwrite`. Returns what to delete once the new run is about to train (so
 * a run that fails to start leaves the old one in place). Nothing is created here.
 */
async function inspectOutput(
  store: FileCheckpointStore,
  resume: boolean,
  overwrite: boolean,
): Promise<() => Promise<void>> {
  const dir = store.outputDir;
  const nothing = async () => undefined;
  const info = await stat(dir).catch(() => null);
  if (info && !info.isDirectory()) throw new ConfigError(`output ${dir} is a file; give a folder`);
  const steps = info ? await store.list() : [];
  if (resume) {
    if (steps.length === 0) {
      throw new ResumeError(
        `--resume: ${dir} holds no checkpoint-<step> folder to continue; run without --resume to start`,
      );
    }
    return nothing;
  }
  const names = info ? await readdir(dir) : [];
  const previous = names.filter((n) => n === ADAPTER_CONFIG_NAME || n === ADAPTER_WEIGHTS_NAME);
  if (previous.length + steps.length === 0) return nothing;
  if (!overwrite) {
    throw new ConfigError(
      `${dir} already holds a fine-tuning run (${[...steps.map((s) => `checkpoint-${s}`), ...previous].join(', ')}); ` +
        'pass --resume to continue it, --overwrite to start over, or choose another output folder',
    );
  }
  return async () => {
    for (const step of steps) await rm(store.location(step), { recursive: true, force: true });
    for (const n of previous) await rm(join(dir, n), { force: true });
  };
}

/**
 * Fine-tunes an adapter on a model folder and writes it to `output` in PEFT format. A new run seeds the
 * adapter's random init, its dropout and the batch order from `seed`; a resumed run restores them from the
 * checkpoint with the optimizer moments, so it ends with exactly the adapter an uninterrupted run would
 * have. Every random draw comes from the run's own stream, so runs in one process do not disturb each other.
 */
export async function finetune(options: FinetuneOptions): Promise<FinetuneSummary> {
  if (options.adapter !== undefined && options.adapterConfig !== undefined) {
    throw new ConfigError('give adapter (a folder to train further) or adapterConfig, not both');
  }
  const start = options.adapter
    ? {
        config: await readAdapterConfigFile(join(options.adapter, ADAPTER_CONFIG_NAME)),
        weightsSha256: await sha256Hex(
          await readFile(join(options.adapter, ADAPTER_WEIGHTS_NAME)).catch((cause: Error) => {
            throw new ConfigError(
              `${join(options.adapter!, ADAPTER_WEIGHTS_NAME)} cannot be read: ${cause.message}`,
            );
          }),
        ),
      }
    : null;
  if (start && (options.method !== undefined || Object.keys(givenMethodOptions(options)).length > 0)) {
    throw new ConfigError('adapter gives the whole adapter config and its weights; drop the method options');
  }
  const adapterConfig = start?.config ?? (await resolveAdapterConfig(options));
  const store = new FileCheckpointStore(options.output);
  const clearPrevious = await inspectOutput(store, options.resume ?? false, options.overwrite ?? false);
  await ensureBackend(options);
  const loadSettings = await checkTrainingMemory(options, adapterConfig, null);
  const base = await loadModelFolder(options.model, options).catch((error: unknown) => {
    throw asOutOfMemory(error, 'while loading the model', loadSettings);
  });
  const { model, config } = base;
  let peft: PeftModel | null = null;
  let runtimeFailed = false;
  try {
    const method = getPeftMethod(adapterConfig.peft_type);
    const args = resolveTrainingArguments(options, {
      learningRate: 'training' in method && method.training ? method.training.defaultLearningRate : 1e-3,
      maxPositions: config.maxPositionEmbeddings,
    });
    const eos = config.eosTokenIds[0] ?? null;
    const dataOptions = {
      tokenizer: base.tokenizer,
      vocabSize: config.vocabSize,
      maxLength: args.seqLen,
      eosTokenId: eos,
      modelDir: options.model,
      ...(options.assistantOnlyLoss === undefined ? {} : { assistantOnlyLoss: options.assistantOnlyLoss }),
    };
    const dataFiles = await resolveDataFiles(options.data);
    const trainSet = await readDataset(dataFiles.train, dataOptions);
    const evalData = options.evalData ?? dataFiles.valid;
    const evalSet = evalData ? await readDataset(evalData, dataOptions) : null;
    // Read before training, so a bad test file stops the run before any step.
    const testSet = dataFiles.test ? await readDataset(dataFiles.test, dataOptions) : null;
    // Refused here, before any step or write, when the plan's estimate for batches as long as this data makes
    // them cannot fit the wasm heap.
    let longestExample = 0;
    for (const set of [trainSet, evalSet, testSet]) {
      for (const ids of set?.sequences ?? []) longestExample = Math.max(longestExample, ids.length);
    }
    const memorySettings = await checkTrainingMemory(options, adapterConfig, longestExample);
    const run: Record<string, unknown> = {
      model: await modelFolderFingerprint(options.model),
      quantize: base.quantization ? { type: base.quantization.type, ...base.quantization.options } : 'none',
      train_data_sha256: await sha256Hex(trainSet.text),
      // Recorded only when off, so runs that never set it keep their fingerprint.
      ...(options.assistantOnlyLoss === false ? { assistant_only_loss: false } : {}),
      adapter: adapterConfigAsJson(adapterConfig),
      ...(start ? { start_from_sha256: start.weightsSha256 } : {}),
    };

    const random = new RunRandomStream(args.seed);
    const resumeFrom = options.resume ? await findResumePoint(store, args, run) : null;
    if (resumeFrom) {
      peft = await loadAdapterFolder(model, store.location(resumeFrom.state.global_step), {
        trainable: true,
        modelName: options.model,
      });
    } else {
      peft = options.adapter
        ? await loadAdapterFolder(model, options.adapter, { trainable: true, modelName: options.model })
        : attachNewAdapter(model, adapterConfig, random);
    }
    await clearPrevious();
    const metrics = await MetricsLog.open(options.output, resumeFrom?.state.global_step ?? 0);
    // Recomputed layers replay the dropout draws of their forward pass from the adapter stream, which the
    // run installs around each whole step (trainableAdapter's inRandomStream).
    if (options.gradientCheckpointing) {
      model.enableGradientCheckpointing({
        randomState: { get: adapterRandomState, set: restoreAdapterRandom },
      });
    }
    const counts = peft.parameterCounts();
    let peakTfBytes = 0;
    let tokensPerSecond = 0;
    const callbacks = options.callbacks ?? {};
    const trainable = trainableAdapter(model, peft, random);
    let stepsDone = resumeFrom?.state.global_step ?? 0;
    const result = await train({
      model: trainable,
      train: trainSet.examples,
      eval: evalSet?.examples ?? null,
      padTokenId: config.padTokenId ?? eos ?? 0,
      args,
      store,
      run,
      resumeFrom,
      ...(options.signal ? { signal: options.signal } : {}),
      callbacks: {
        ...callbacks,
        onStep: (progress) => {
          stepsDone = progress.step;
          peakTfBytes = Math.max(peakTfBytes, progress.tfBytes);
          metrics.append({
            step: progress.step,
            loss: progress.loss,
            learning_rate: progress.learningRate,
            grad_norm: progress.gradNorm,
            tokens_per_second: progress.tokensPerSecond,
            peak_rss_bytes: peakRss(),
            tf_bytes: progress.tfBytes,
          });
          tokensPerSecond = progress.tokensPerSecond;
          callbacks.onStep?.({
            ...progress,
            rssBytes: process.memoryUsage.rss(),
            peakRssBytes: peakRss(),
            wasmHeapBytes: wasmHeapBytes(),
          });
        },
        onEval: (step, evaluation) => {
          metrics.append({ step, eval_loss: evaluation.loss, eval_perplexity: evaluation.perplexity });
          callbacks.onEval?.(step, evaluation);
        },
        onStart: (info) =>
          callbacks.onStart?.({
            ...info,
            trainableParams: counts.trainable,
            allParams: counts.all,
            parameterSummary: peft!.trainableParametersSummary(),
            schemes: base.schemes,
          }),
      },
    }).catch((error: unknown) => {
      runtimeFailed = true;
      throw asOutOfMemory(error, `in training step ${stepsDone + 1}`, memorySettings);
    });
    let adapterDir: string | null = null;
    let test: EvalResult | null = null;
    if (result.completed && testSet) {
      test = await evaluate(evaluableModel(model), testSet.examples, {
        batchSize: args.batchSize,
        seqLen: args.seqLen,
        padTokenId: config.padTokenId ?? eos ?? 0,
      });
    }
    if (result.completed) {
      await savePretrained(peft, options.output);
      await metrics.writeChart();
      adapterDir = options.output;
    }
    return {
      step: result.step,
      totalSteps: result.totalSteps,
      completed: result.completed,
      lastLoss: result.lastLoss,
      eval: result.eval,
      test,
      adapterDir,
      checkpointDir: result.checkpoint,
      tokensSeen: result.tokensSeen,
      trainableParams: counts.trainable,
      peakRssBytes: peakRss(),
      peakTfBytes,
      tokensPerSecond,
      wasmHeapBytes: wasmHeapBytes(),
      gradientCheckpointing: options.gradientCheckpointing ?? false,
    };
  } finally {
    disposeRun(peft ?? model, runtimeFailed);
  }
}

/** Frees the model; after a wasm abort the heap is gone and disposing throws: keep the error that got us here. */
function disposeRun(owner: { dispose(): void }, runtimeFailed: boolean): void {
  try {
    owner.dispose();
  } catch (error) {
    if (!runtimeFailed) throw error;
  }
}
