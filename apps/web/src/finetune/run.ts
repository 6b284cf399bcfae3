import {
  type AdapterConfig,
  type AdapterFiles,
  type PeftModel,
  saveAdapterFiles,
} from '@peft/adapter-bridge';
import type { BackendName } from '@peft/backends';
import { getQuantizer, isLinear, isOutputHead, quantizeLinears } from '@peft/core';
import type { LlamaForCausalLM, LoadQuantization, TextTokenizer } from '@peft/models';
import '@peft/quant-bnb4'; // registers the "nf4" and "fp4" quantizers
import {
  type ChatTemplate,
  type DataRow,
  type ExampleInput,
  evaluate,
  type JsonlRow,
  type TrainingArguments,
} from '@peft/training';
import { attachNewAdapter, evaluableModel, RunRandomStream, trainableAdapter } from '@peft/training/adapters';
import * as tf from '@tensorflow/tfjs-core';
import type { RunOptions } from '../options.js';
import { pageAdapterConfig } from './adapter-config.js';
import { activate, type BackendPlan, fetchToHost } from './backends.js';
import type { EmitRunEvent } from './events.js';
import { encodeRows, type PromptExample, promptExample, rowTexts } from './examples.js';
import { greedyGenerations } from './generations.js';
import { ownRunData } from './own-data.js';
import { runArguments } from './run-arguments.js';
import { bucketedEvaluable, bucketedTrainable } from './shape-buckets.js';
import { nextTurn, trainAdapter } from './train.js';

/** The demo's base model and data (already loaded: see `loadDemoAssets`). */
export interface RunInputs {
  model: LlamaForCausalLM;
  tokenizer: TextTokenizer;
  train: JsonlRow[];
  eval: JsonlRow[];
}

/** A model folder and JSONL files the user chose (already loaded and parsed: see `loadOwnFiles`). */
export interface OwnRunInputs {
  model: LlamaForCausalLM;
  /** From the folder's tokenizer.json; null without one (then only `input_ids` rows can be used). */
  tokenizer: TextTokenizer | null;
  /** From the folder's chat_template.jinja or tokenizer_config.json; null without one (then no chat rows). */
  chatTemplate: ChatTemplate | null;
  train: DataRow[];
  /** Held-out rows, or null: the loss before and after is then measured on the first training rows. */
  eval: DataRow[] | null;
  /** File names, for messages. */
  trainName: string;
  evalName: string | null;
  /** What was quantized while loading (null: nothing was). */
  quantized: LoadQuantization | null;
}

/** A run's data, tokenized for the model. */
export interface RunData {
  train: ExampleInput[];
  heldOut: ExampleInput[];
  /** What `heldOut` came from, for the page. */
  heldOutName: string;
  /** Prompts generated from before and after training (none without a tokenizer). */
  prompts: PromptExample[];
  tokenizer: TextTokenizer | null;
}

const EVAL_BATCH = 32;

/** Bytes each linear layer holds for its weight and statistics, by path. */
function linearStorage(model: LlamaForCausalLM): Map<string, number> {
  const bytes = new Map<string, number>();
  for (const [path, module] of model.namedModules())
    if (isLinear(module)) bytes.set(path, module.layer.storageBytes);
  return bytes;
}

function linearSchemes(model: LlamaForCausalLM): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const [, module] of model.namedModules())
    if (isLinear(module)) counts[module.layer.scheme] = (counts[module.layer.scheme] ?? 0) + 1;
  return counts;
}

function sumOver(bytes: Map<string, number>, paths: readonly string[]): number {
  return paths.reduce((sum, path) => sum + (bytes.get(path) ?? 0), 0);
}

/**
 * Quantizes every dense linear but the output head with the chosen registered quantizer, one layer at a
 * time (`quantizeLinears` on that layer alone), reporting each and yielding between them so the page hears.
 * Layers quantized while loading (`onLoad`) are counted with these.
 */
async function quantize(
  model: LlamaForCausalLM,
  options: RunOptions,
  emit: EmitRunEvent,
  onLoad: LoadQuantization | null,
): Promise<void> {
  const { config } = model;
  const dense = linearStorage(model);
  const quantized: string[] = [];
  if (options.quantize !== 'none') {
    const quantizer = getQuantizer(options.quantize);
    const targets = [...model.namedModules()]
      .filter(([path, m]) => isLinear(m) && m.layer.scheme === 'dense' && !isOutputHead(path))
      .map(([path]) => path);
    if (targets.length > 0) {
      emit({
        type: 'phase',
        text: `Quantizing ${targets.length} linear layers to ${options.quantize.toUpperCase()}`,
      });
      for (const [i, path] of targets.entries()) {
        emit({ type: 'progress', done: i, total: targets.length, unit: 'layers' });
        await nextTurn();
        quantized.push(...quantizeLinears(model, quantizer, {}, (p) => p !== path));
      }
      emit({ type: 'progress', done: targets.length, total: targets.length, unit: 'layers' });
    }
  }
  emit({
    type: 'model',
    layers: config.numHiddenLayers,
    hiddenSize: config.hiddenSize,
    vocabSize: config.vocabSize,
    quantizer: options.quantize,
    quantizedLinears: (onLoad?.paths.length ?? 0) + quantized.length,
    denseBytes: (onLoad?.denseBytes ?? 0) + sumOver(dense, quantized),
    quantizedBytes: (onLoad?.quantizedBytes ?? 0) + sumOver(linearStorage(model), quantized),
    schemes: linearSchemes(model),
  });
}

/** Quantizes the base model and attaches the chosen adapter, its random init (if any) drawn from the run's stream. */
async function quantizeAndAttach(
  model: LlamaForCausalLM,
  adapterConfig: AdapterConfig,
  options: RunOptions,
  random: RunRandomStream,
  emit: EmitRunEvent,
  onLoad: LoadQuantization | null,
): Promise<PeftModel> {
  await quantize(model, options, emit, onLoad);
  emit({ type: 'phase', text: `Attaching ${options.method} adapters` });
  await nextTurn();
  const peft = attachNewAdapter(model, adapterConfig, random);
  emit({
    type: 'parameters',
    method: options.method,
    ...peft.parameterCounts(),
    summary: peft.trainableParametersSummary(),
  });
  return peft;
}

/**
 * The demo, start to end, on whatever TensorFlow.js backend is active: quantize, attach the adapter, measure
 * the held-out loss and greedy generations, fine-tune, measure again, and return the adapter folder as PEFT
 * writes it. It consumes `inputs.model`: the model and its adapters are disposed when the run ends, failed or not.
 */
export function fineTune(
  inputs: RunInputs,
  options: RunOptions,
  emit: EmitRunEvent,
  backends: BackendPlan = sameBackend(),
): Promise<AdapterFiles> {
  return runFineTuning(inputs.model, options, emit, backends, null, (args) =>
    demoRunData(inputs, options, args),
  );
}

/** The same run on the user's own model folder and JSONL files. */
export function fineTuneOwn(
  inputs: OwnRunInputs,
  options: RunOptions,
  emit: EmitRunEvent,
  backends: BackendPlan = sameBackend(),
): Promise<AdapterFiles> {
  return runFineTuning(inputs.model, options, emit, backends, inputs.quantized, (args) =>
    ownRunData(inputs, options, args),
  );
}

/** The demo's rows as token ids (BOS, text, EOS); its held-out words ("word: PHONEMES") as prompts. */
function demoRunData(inputs: RunInputs, options: RunOptions, args: TrainingArguments): RunData {
  const { model, tokenizer } = inputs;
  const { config } = model;
  const eosTokenId = config.eosTokenIds[0] ?? 2;
  const encode = (rows: JsonlRow[], source: string) =>
    encodeRows(tokenizer, rows, { eosTokenId, maxLength: args.seqLen, vocabSize: config.vocabSize, source });
  return {
    train: encode(inputs.train, 'finetune-train.jsonl'),
    heldOut: encode(inputs.eval.slice(0, options.evalRows), 'finetune-eval.jsonl'),
    heldOutName: 'finetune-eval.jsonl',
    prompts: rowTexts(inputs.eval)
      .slice(0, options.words)
      .map((text) => promptExample(text, 'finetune-eval.jsonl')),
    tokenizer,
  };
}

async function runFineTuning(
  model: LlamaForCausalLM,
  options: RunOptions,
  emit: EmitRunEvent,
  backends: BackendPlan,
  onLoad: LoadQuantization | null,
  prepare: (args: TrainingArguments) => RunData,
): Promise<AdapterFiles> {
  let peft: PeftModel | null = null;
  try {
    const args = runArguments(options, model.config.maxPositionEmbeddings);
    // Data and adapter options are checked before the slow work starts.
    const data = prepare(args);
    const adapterConfig = pageAdapterConfig(options);
    const random = new RunRandomStream(args.seed);
    await activate(backends.host);
    peft = await quantizeAndAttach(model, adapterConfig, options, random, emit, onLoad);
    await activate(backends.compute);
    await trainAndEvaluate(peft, model, random, data, options, args, emit);
    emit({ type: 'phase', text: 'Writing the adapter folder' });
    await fetchToHost(adapterTensors(peft));
    await activate(backends.host);
    return saveAdapterFiles(peft);
  } finally {
    if (peft) peft.dispose();
    else model.dispose();
  }
}

function sameBackend(): BackendPlan {
  const name = tf.getBackend() as BackendName;
  return { compute: name, host: name, reason: 'the active backend' };
}

/** What `saveAdapterFiles` reads: the adapter's (trainable) variables and any shared state's tensors (VeRA's projections). */
function adapterTensors(peft: PeftModel): tf.Tensor[] {
  const variables = peft.trainableVariables();
  const shared = peft.sharedState('default') as
    | { projections?: { aT: tf.Tensor; bT: tf.Tensor } }
    | undefined;
  return shared?.projections ? [...variables, shared.projections.aT, shared.projections.bT] : variables;
}

/**
 * Held-out loss and generations, training with `@peft/training`'s `train()`, then both again. Batches are
 * widened to a few shapes (`shape-buckets.ts`) for WebGPU's shader cache; the losses are unchanged.
 */
async function trainAndEvaluate(
  peft: PeftModel,
  model: LlamaForCausalLM,
  random: RunRandomStream,
  data: RunData,
  options: RunOptions,
  args: TrainingArguments,
  emit: EmitRunEvent,
): Promise<void> {
  const { config } = model;
  const eosTokenId = config.eosTokenIds[0] ?? 2;
  const padId = config.padTokenId ?? eosTokenId;
  const buckets = { padId, maxSeqLen: args.seqLen };
  const evaluable = bucketedEvaluable(evaluableModel(model), buckets);
  const evaluateAndGenerate = async (when: 'before' | 'after') => {
    emit({ type: 'phase', text: `Loss on ${data.heldOutName} ${when} fine-tuning` });
    emit({ type: 'progress', done: 0, total: data.heldOut.length, unit: 'rows' });
    const result = await evaluate(evaluable, data.heldOut, {
      batchSize: EVAL_BATCH,
      seqLen: args.seqLen,
      padTokenId: padId,
      onProgress: (done, total) => emit({ type: 'progress', done, total, unit: 'rows' }),
    });
    emit({ type: 'eval', when, loss: result.loss, rows: result.examples, data: data.heldOutName });
    if (data.prompts.length === 0 || !data.tokenizer) return;
    const count = data.prompts.length;
    emit({
      type: 'phase',
      text: `Generating up to ${options.maxNewTokens} tokens for ${count} prompt${count > 1 ? 's' : ''} ${when} fine-tuning`,
    });
    await nextTurn();
    const items = await greedyGenerations(model, data.tokenizer, data.prompts, options.maxNewTokens);
    emit({ type: 'generations', when, items });
  };

  peft.eval();
  await evaluateAndGenerate('before');
  await trainAdapter(
    bucketedTrainable(trainableAdapter(model, peft, random), buckets),
    data.train,
    padId,
    args,
    emit,
  );
  await evaluateAndGenerate('after');
}
