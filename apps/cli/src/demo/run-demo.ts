import { readFile } from 'node:fs/promises';
import { type BackendChoice, setupBackend } from '@peft/backends';
import { ConfigError, isLinear } from '@peft/core';
import { generate, type LlamaForCausalLM, type TextTokenizer } from '@peft/models';
import { type EvalResult, evaluate, parseJsonl } from '@peft/training';
import {
  evaluableModel,
  finetune,
  loadAdapterFolder,
  loadModelFolder,
  readDataset,
} from '@peft/training/node';
import * as tf from '@tensorflow/tfjs-core';
// The demo quantizes to NF4 and trains VeRA: their packages register them.
import '../cli/builtins.js';
import { DEMO_ASSETS } from './assets.js';

export interface DemoOptions {
  modelDir: string;
  trainData: string;
  evalData: string;
  /** Receives the PEFT adapter folder (replaced on each run). */
  outDir: string;
  steps: number;
  batchSize: number;
  learningRate: number;
  r: number;
  seed: number;
  backend: BackendChoice;
  /** Held-out words whose pronunciations are generated before and after. */
  sampleWords: number;
}

export const DEFAULT_DEMO_OPTIONS: DemoOptions = {
  modelDir: DEMO_ASSETS.baseModel,
  trainData: DEMO_ASSETS.trainData,
  evalData: DEMO_ASSETS.evalData,
  outDir: 'peft-demo-output/vera-adapter',
  // Tuned on 2 cores: about 3 minutes of training, held-out loss 7.0 -> 2.3 on the embedded model.
  steps: 250,
  batchSize: 32,
  learningRate: 5e-2,
  r: 256,
  seed: 0,
  backend: 'auto',
  sampleWords: 5,
};

/** What the demo tells its user, as it happens; the command prints it, tests collect it. */
export interface DemoReporter {
  line(text: string): void;
  progressStart(total: number): void;
  progress(step: number, values: { loss: number; tokensPerSecond: number }): void;
  progressStop(): void;
}

export interface DemoSample {
  prompt: string;
  expected: string;
  before: string;
  after: string;
}

export interface DemoResult {
  backend: string;
  trainableParams: number;
  allParams: number;
  before: EvalResult;
  after: EvalResult;
  samples: DemoSample[];
  adapterDir: string;
  seconds: number;
}

const QUANTIZATION = { quantize: 'nf4', quantizeOptions: { doubleQuant: true, blocksize: 64 } } as const;

async function complete(
  model: LlamaForCausalLM,
  tokenizer: TextTokenizer,
  prompts: string[],
): Promise<string[]> {
  const results: string[] = [];
  for (const prompt of prompts) {
    const { tokens } = await generate(model, tokenizer.encode(prompt), { maxNewTokens: 16 });
    results.push(tokenizer.decode(tokens[0]!).trim());
  }
  return results;
}

/** Bytes held by every linear layer's weight and statistics (what quantization shrinks). */
function linearStorageBytes(model: LlamaForCausalLM): number {
  let bytes = 0;
  for (const [, module] of model.namedModules()) if (isLinear(module)) bytes += module.layer.storageBytes;
  return bytes;
}

function megabytes(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MB`;
}

/** Held-out "word: PHONEMES" rows split into the prompt ("word:") and the dictionary's answer. */
async function sampleWords(path: string, count: number): Promise<{ prompt: string; expected: string }[]> {
  return parseJsonl(await readFile(path, 'utf8'), path)
    .slice(0, count)
    .map((row) => {
      const text = 'text' in row ? row.text : '';
      const cut = text.indexOf(':');
      return { prompt: text.slice(0, cut + 1), expected: text.slice(cut + 1).trim() };
    });
}

/**
 * The main job: quantize the embedded base model to NF4 with double quantization, attach VeRA to
 * every linear, fine-tune it on the pronunciation task, and show the held-out effect. The training,
 * evaluation and loading are the ones `peft finetune` / `peft eval` use.
 */
export async function runDemo(options: DemoOptions, report: DemoReporter): Promise<DemoResult> {
  const started = Date.now();
  const backend = await setupBackend(options.backend);
  report.line(`backend: ${backend.backend} (${backend.reason})`);

  const dense = await loadModelFolder(options.modelDir);
  const denseBytes = linearStorageBytes(dense.model);
  dense.model.dispose();
  const base = await loadModelFolder(options.modelDir, QUANTIZATION);
  const { model, config, tokenizer } = base;
  if (!tokenizer) throw new ConfigError(`${options.modelDir} has no tokenizer.json`);
  report.line(
    `base model: ${options.modelDir}\n` +
      `  Llama, ${config.numHiddenLayers} layers, hidden ${config.hiddenSize}, vocab ${config.vocabSize}; pretrained on State of the Union addresses`,
  );
  report.line(
    `quantized ${base.quantizedLayers.length} linear layers to NF4 with double quantization (lm_head stays dense): ` +
      `linear weights ${megabytes(denseBytes)} -> ${megabytes(linearStorageBytes(model))}`,
  );

  const eos = config.eosTokenIds[0] ?? null;
  const pad = config.padTokenId ?? eos ?? 0;
  const held = await readDataset(options.evalData, {
    tokenizer,
    vocabSize: config.vocabSize,
    maxLength: config.maxPositionEmbeddings,
    eosTokenId: eos,
  });
  const evalOptions = { batchSize: 64, seqLen: config.maxPositionEmbeddings, padTokenId: pad };
  const samples = await sampleWords(options.evalData, options.sampleWords);
  const before = await evaluate(evaluableModel(model), held.sequences, evalOptions);
  const beforeText = await complete(
    model,
    tokenizer,
    samples.map((s) => s.prompt),
  );
  report.line(
    `held-out loss before fine-tuning: ${before.loss.toFixed(3)} (perplexity ${before.perplexity.toFixed(1)}, ${before.tokens} tokens of ${before.examples} unseen words)`,
  );
  model.dispose();

  let counts = { trainable: 0, all: 0 };
  const finetuned = await finetune({
    model: options.modelDir,
    data: options.trainData,
    output: options.outDir,
    method: 'vera',
    r: options.r,
    targetModules: 'all-linear',
    projectionPrngKey: options.seed,
    ...QUANTIZATION,
    steps: options.steps,
    batchSize: options.batchSize,
    learningRate: options.learningRate,
    warmupSteps: Math.min(20, options.steps),
    seed: options.seed,
    saveEvery: 0,
    keepCheckpoints: 1,
    // A demo rerun replaces its previous adapter (only the run's own files are deleted).
    overwrite: true,
    callbacks: {
      onStart: (info) => {
        counts = { trainable: info.trainableParams, all: info.allParams };
        report.line(`VeRA r=${options.r} on all linear layers: ${info.parameterSummary}`);
        report.progressStart(info.totalSteps);
      },
      onStep: (p) => report.progress(p.step, { loss: p.loss, tokensPerSecond: p.tokensPerSecond }),
    },
  });
  report.progressStop();

  const tuned = await loadModelFolder(options.modelDir, QUANTIZATION);
  const peft = await loadAdapterFolder(tuned.model, finetuned.adapterDir ?? options.outDir);
  const after = await evaluate(evaluableModel(tuned.model), held.sequences, evalOptions);
  const afterText = await complete(
    tuned.model,
    tokenizer,
    samples.map((s) => s.prompt),
  );
  report.line(
    `held-out loss after fine-tuning:  ${after.loss.toFixed(3)} (perplexity ${after.perplexity.toFixed(1)})`,
  );
  report.line('generations for held-out words (greedy), before -> after:');
  const rows = samples.map((s, i) => ({ ...s, before: beforeText[i]!, after: afterText[i]! }));
  for (const row of rows) {
    report.line(
      `  ${row.prompt.padEnd(12)} ${row.before.slice(0, 36).padEnd(36)} -> ${row.after.padEnd(28)} (dictionary: ${row.expected})`,
    );
  }

  const memory = process.memoryUsage();
  report.line(
    `memory: ${megabytes(memory.rss)} resident; TensorFlow.js holds ${megabytes(tf.memory().numBytes)} in ${tf.memory().numTensors} tensors`,
  );
  report.line(
    `PEFT adapter written to ${options.outDir} (adapter_config.json + adapter_model.safetensors; Python: PeftModel.from_pretrained(model, "${options.outDir}"))`,
  );
  const seconds = (Date.now() - started) / 1000;
  report.line(`done in ${seconds.toFixed(0)} s`);
  peft.dispose();
  return {
    backend: backend.backend,
    trainableParams: counts.trainable,
    allParams: counts.all,
    before,
    after,
    samples: rows,
    adapterDir: options.outDir,
    seconds,
  };
}
