import { type AdapterFiles, getPeftModel, type PeftModel, saveAdapterFiles } from '@peft/adapter-bridge';
import type { BackendName } from '@peft/backends';
import { isLinear } from '@peft/core';
import type { LlamaForCausalLM, TextTokenizer } from '@peft/models';
import { quantizeModule } from '@peft/quant-bnb4';
import type { JsonlRow } from '@peft/training';
import { type VeraSharedState, veraConfig } from '@peft/vera';
import * as tf from '@tensorflow/tfjs-core';
import type { RunOptions } from '../options.js';
import { activate, type BackendPlan, fetchToHost } from './backends.js';
import { heldOutLoss } from './evaluate.js';
import type { EmitRunEvent } from './events.js';
import { encodeRows, promptExample, rowTexts } from './examples.js';
import { greedyGenerations } from './generations.js';
import { nextTurn, trainAdapters } from './train.js';

/** The base model and the data a run fine-tunes on (already loaded: see `loadDemoAssets`). */
export interface RunInputs {
  model: LlamaForCausalLM;
  tokenizer: TextTokenizer;
  train: JsonlRow[];
  eval: JsonlRow[];
}

/** Rows are short pronunciations (at most ~33 tokens); this only guards against a pathological row. */
const MAX_SEQ_LEN = 128;
const EVAL_BATCH = 32;

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

/** Quantizes every linear but the output head to NF4 (double quantization) and attaches VeRA to them all. */
async function quantizeAndAttach(
  model: LlamaForCausalLM,
  options: RunOptions,
  emit: EmitRunEvent,
): Promise<PeftModel> {
  const { config } = model;
  emit({ type: 'phase', text: 'Quantizing the base model to NF4 with double quantization' });
  await nextTurn();
  const dense = linearStorage(model);
  const quantized = quantizeModule(model, { quantType: 'nf4', doubleQuant: true });
  emit({
    type: 'model',
    layers: config.numHiddenLayers,
    hiddenSize: config.hiddenSize,
    vocabSize: config.vocabSize,
    quantizedLinears: quantized.length,
    denseBytes: sumOver(dense, quantized),
    quantizedBytes: sumOver(linearStorage(model), quantized),
  });
  const peft = getPeftModel(
    model,
    veraConfig({ r: options.r, target_modules: 'all-linear', projection_prng_key: options.seed }),
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
    await activate(backends.host);
    peft = await quantizeAndAttach(inputs.model, options, emit);
    await activate(backends.compute);
    await trainAndEvaluate(peft, inputs, options, emit);
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

async function trainAndEvaluate(
  peft: PeftModel,
  inputs: RunInputs,
  options: RunOptions,
  emit: EmitRunEvent,
): Promise<void> {
  const { model, tokenizer } = inputs;
  const { config } = model;
  const eosTokenId = config.eosTokenIds[0] ?? 2;
  const padId = config.padTokenId ?? eosTokenId;
  const maxSeqLen = Math.min(MAX_SEQ_LEN, config.maxPositionEmbeddings);
  const encode = (rows: JsonlRow[], source: string) =>
    encodeRows(tokenizer, rows, { eosTokenId, maxLength: maxSeqLen, vocabSize: config.vocabSize, source });

  const train = encode(inputs.train, 'finetune-train.jsonl');
  const heldOutRows = inputs.eval.slice(0, options.evalRows);
  const heldOut = encode(heldOutRows, 'finetune-eval.jsonl');
  const examples = rowTexts(inputs.eval)
    .slice(0, options.words)
    .map((text) => promptExample(text, 'finetune-eval.jsonl'));
  const evaluate = async (when: 'before' | 'after') => {
    emit({ type: 'phase', text: `Held-out loss ${when} fine-tuning` });
    const loss = await heldOutLoss(model, heldOut, { padId, batchSize: EVAL_BATCH, maxSeqLen });
    emit({ type: 'eval', when, loss, rows: heldOut.length });
    emit({ type: 'phase', text: `Generating ${examples.length} held-out words ${when} fine-tuning` });
    const items = await greedyGenerations(model, tokenizer, examples, options.maxNewTokens);
    emit({ type: 'generations', when, items });
  };

  peft.eval();
  await evaluate('before');

  await trainAdapters(peft, model, train, options, { padId, maxSeqLen }, emit);
  await evaluate('after');
}
