import { type AdapterFiles, type PeftModel, saveAdapterFiles } from '@peft/adapter-bridge';
import type { BackendName } from '@peft/backends';
import { getQuantizer, isLinear, quantizeLinears } from '@peft/core';
import type { LlamaForCausalLM, TextTokenizer } from '@peft/models';
import '@peft/quant-bnb4'; // registers the "nf4" quantizer
import { evaluate, type JsonlRow, type TrainingArguments } from '@peft/training';
import { attachNewAdapter, evaluableModel, RunRandomStream, trainableAdapter } from '@peft/training/adapters';
import { type VeraSharedState, veraConfig } from '@peft/vera';
import * as tf from '@tensorflow/tfjs-core';
import type { RunOptions } from '../options.js';
import { activate, type BackendPlan, fetchToHost } from './backends.js';
import type { EmitRunEvent } from './events.js';
import { encodeRows, promptExample, rowTexts } from './examples.js';
import { greedyGenerations } from './generations.js';
import { runArguments } from './run-arguments.js';
import { bucketedEvaluable, bucketedTrainable } from './shape-buckets.js';
import { nextTurn, trainAdapter } from './train.js';

/** The base model and the data a run fine-tunes on (already loaded: see `loadDemoAssets`). */
export interface RunInputs {
  model: LlamaForCausalLM;
  tokenizer: TextTokenizer;
  train: JsonlRow[];
  eval: JsonlRow[];
}

const EVAL_BATCH = 32;
/** NF4 with double quantization in blocks of 64, as `load_in_4bit` with QLoRA's settings (and `peft demo`). */
const QUANTIZER = 'nf4';
const QUANTIZER_OPTIONS = { blocksize: 64, doubleQuant: true };

/** Bytes each linear layer holds for its weight and statistics, by path. */
function linearStorage(model: LlamaForCausalLM): Map<string, number> {
  const bytes = new Map<string, number>();
  for (const [path, module] of model.namedModules())
    if (isLinear(module)) bytes.set(path, module.layer.storageBytes);
  return bytes;
}

function sumOver(bytes: Map<string, number>, paths: readonly string[]): number {
  return paths.reduce((sum, path) => sum + (bytes.get(path) ?? 0), 0);
}

/**
 * Quantizes every linear but the output head to NF4 (double quantization) through the quantizer registry
 * and attaches VeRA to them all, its random init (if any) drawn from the run's stream.
 */
async function quantizeAndAttach(
  model: LlamaForCausalLM,
  options: RunOptions,
  random: RunRandomStream,
  emit: EmitRunEvent,
): Promise<PeftModel> {
  const { config } = model;
  emit({ type: 'phase', text: 'Quantizing the base model to NF4 with double quantization' });
  await nextTurn();
  const dense = linearStorage(model);
  const quantized = quantizeLinears(model, getQuantizer(QUANTIZER), QUANTIZER_OPTIONS);
  emit({
    type: 'model',
    layers: config.numHiddenLayers,
    hiddenSize: config.hiddenSize,
    vocabSize: config.vocabSize,
    quantizedLinears: quantized.length,
    denseBytes: sumOver(dense, quantized),
    quantizedBytes: sumOver(linearStorage(model), quantized),
  });
  const peft = attachNewAdapter(
    model,
    veraConfig({ r: options.r, target_modules: 'all-linear', projection_prng_key: options.seed }),
    random,
  );
  emit({ type: 'parameters', ...peft.parameterCounts(), summary: peft.trainableParametersSummary() });
  return peft;
}

/**
 * The demo, start to end, on whatever TensorFlow.js backend is active: quantize, attach VeRA, measure the
 * held-out loss and greedy generations, fine-tune, measure again, and return the adapter folder as PEFT
 * writes it. It consumes `inputs.model`: the model and its adapters are disposed when the run ends,
 * failed or not.
 */
export async function fineTune(
  inputs: RunInputs,
  options: RunOptions,
  emit: EmitRunEvent,
  backends: BackendPlan = sameBackend(),
): Promise<AdapterFiles> {
  let peft: PeftModel | null = null;
  try {
    const args = runArguments(options, inputs.model.config.maxPositionEmbeddings);
    const random = new RunRandomStream(args.seed);
    await activate(backends.host);
    peft = await quantizeAndAttach(inputs.model, options, random, emit);
    await activate(backends.compute);
    await trainAndEvaluate(peft, random, inputs, options, args, emit);
    emit({ type: 'phase', text: 'Writing the adapter folder' });
    await fetchToHost(adapterTensors(peft));
    await activate(backends.host);
    return saveAdapterFiles(peft);
  } finally {
    if (peft) peft.dispose();
    else inputs.model.dispose();
  }
}

function sameBackend(): BackendPlan {
  const name = tf.getBackend() as BackendName;
  return { compute: name, host: name, reason: 'the active backend' };
}

/** What `saveAdapterFiles` reads: the adapter's (trainable) variables and VeRA's shared projections. */
function adapterTensors(peft: PeftModel): tf.Tensor[] {
  const variables = peft.trainableVariables();
  const shared = peft.sharedState('default') as VeraSharedState | undefined;
  return shared ? [...variables, shared.projections.aT, shared.projections.bT] : variables;
}

/**
 * Held-out loss and generations, training with `@peft/training`'s `train()`, then both again. Batches are
 * widened to a few shapes (`shape-buckets.ts`) for WebGPU's shader cache; the losses are unchanged.
 */
async function trainAndEvaluate(
  peft: PeftModel,
  random: RunRandomStream,
  inputs: RunInputs,
  options: RunOptions,
  args: TrainingArguments,
  emit: EmitRunEvent,
): Promise<void> {
  const { model, tokenizer } = inputs;
  const { config } = model;
  const eosTokenId = config.eosTokenIds[0] ?? 2;
  const padId = config.padTokenId ?? eosTokenId;
  const encode = (rows: JsonlRow[], source: string) =>
    encodeRows(tokenizer, rows, { eosTokenId, maxLength: args.seqLen, vocabSize: config.vocabSize, source });

  const train = encode(inputs.train, 'finetune-train.jsonl');
  const heldOut = encode(inputs.eval.slice(0, options.evalRows), 'finetune-eval.jsonl');
  const examples = rowTexts(inputs.eval)
    .slice(0, options.words)
    .map((text) => promptExample(text, 'finetune-eval.jsonl'));
  const buckets = { padId, maxSeqLen: args.seqLen };
  const evaluable = bucketedEvaluable(evaluableModel(model), buckets);
  const evaluateAndGenerate = async (when: 'before' | 'after') => {
    emit({ type: 'phase', text: `Held-out loss ${when} fine-tuning` });
    const result = await evaluate(evaluable, heldOut, {
      batchSize: EVAL_BATCH,
      seqLen: args.seqLen,
      padTokenId: padId,
    });
    emit({ type: 'eval', when, loss: result.loss, rows: result.examples });
    emit({ type: 'phase', text: `Generating ${examples.length} held-out words ${when} fine-tuning` });
    const items = await greedyGenerations(model, tokenizer, examples, options.maxNewTokens);
    emit({ type: 'generations', when, items });
  };

  peft.eval();
  await evaluateAndGenerate('before');
  await trainAdapter(
    bucketedTrainable(trainableAdapter(model, peft, random), buckets),
    train,
    padId,
    args,
    emit,
  );
  await evaluateAndGenerate('after');
}
