// Pretrains the demo's base model from scratch on the State of the Union corpus and writes it, in
// Hugging Face layout, to apps/cli/assets/demo/base-model. Run once (it takes a while on 2 cores);
// the result is committed so `pnpm demo` never needs to pretrain or download anything.
//
//   pnpm --filter @peft/demo-base pretrain            (PRETRAIN_MINUTES, default 30)
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setupBackend } from '@peft/backends';
import { isLinear } from '@peft/core';
import { createRandomModel, type LlamaForCausalLM, llamaConfig, TextTokenizer } from '@peft/models';
import { saveModel } from '@peft/models/node';
import { Trainer } from '@peft/training';
import * as tf from '@tensorflow/tfjs-core';
import { BASE_MODEL_DIR } from './paths.js';
import { HELD_OUT_YEARS, loadAddresses } from './sotu-corpus.js';
import { TrainableLinear } from './trainable-linear.js';
import { registerWasmUnsortedSegmentSum } from './wasm-segment-sum.js';

const SEQ_LEN = 128;
const BATCH = 16;
const MINUTES = Number(process.env.PRETRAIN_MINUTES ?? 30);
const PEAK_LR = 3e-3;

export const DEMO_BASE_CONFIG = {
  model_type: 'llama' as const,
  vocab_size: 1024,
  hidden_size: 128,
  intermediate_size: 352,
  num_hidden_layers: 4,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  max_position_embeddings: 256,
  rms_norm_eps: 1e-5,
  rope_theta: 10000,
  tie_word_embeddings: false,
  bos_token_id: 1,
  eos_token_id: 2,
  initializer_range: 0.02,
  torch_dtype: 'float32',
};

/** Encodes a long text in chunks cut at spaces (the BPE has no pre-tokenizer, so whole speeches are slow). */
function encodeLong(tokenizer: TextTokenizer, text: string): number[] {
  const ids: number[] = [];
  for (let start = 0; start < text.length; ) {
    let end = Math.min(text.length, start + 400);
    if (end < text.length) end = text.lastIndexOf(' ', end) > start ? text.lastIndexOf(' ', end) : end;
    ids.push(...tokenizer.encode(text.slice(start, end).trim(), { addSpecialTokens: false }));
    start = end + 1;
  }
  return ids;
}

function makeTrainable(model: LlamaForCausalLM): Map<string, tf.Variable> {
  const variables = new Map<string, tf.Variable>();
  for (const [path, module] of model.namedModules()) {
    if (!isLinear(module)) continue;
    const w = module.layer.dequantize();
    const trainable = new TrainableLinear(module.outFeatures, module.inFeatures, w);
    w.dispose();
    module.replaceLayer(trainable);
    variables.set(`${path}.weight`, trainable.weightT);
  }
  for (const [name, variable] of model.namedParameters()) {
    variable.trainable = true;
    variables.set(name, variable);
  }
  return variables;
}

/** Writes the model (config, weights, generation config) beside the tokenizer, atomically. */
async function save(model: LlamaForCausalLM): Promise<void> {
  await saveModel(model, BASE_MODEL_DIR, {
    floatDType: 'F32',
    extraFiles: { 'generation_config.json': { bos_token_id: 1, eos_token_id: 2, max_length: 256 } },
  });
}

async function main(): Promise<void> {
  console.log((await setupBackend('wasm')).reason);
  registerWasmUnsortedSegmentSum();
  const tokenizer = new TextTokenizer(
    JSON.parse(readFileSync(join(BASE_MODEL_DIR, 'tokenizer.json'), 'utf8')),
    JSON.parse(readFileSync(join(BASE_MODEL_DIR, 'tokenizer_config.json'), 'utf8')),
  );
  const addresses = loadAddresses();
  const train = addresses
    .filter((a) => !HELD_OUT_YEARS.has(a.year))
    .flatMap((a) => encodeLong(tokenizer, a.text));
  const heldOut = addresses
    .filter((a) => HELD_OUT_YEARS.has(a.year))
    .flatMap((a) => encodeLong(tokenizer, a.text));
  console.log(`corpus: ${train.length} training tokens, ${heldOut.length} held-out tokens`);

  const config = llamaConfig(DEMO_BASE_CONFIG);
  const model = await createRandomModel(config, 1234);
  const variables = makeTrainable(model);
  const params = [...variables.values()].reduce((n, v) => n + v.size, 0);
  console.log(`model: ${params} parameters`);

  let rng = 0x12345678;
  const nextRandom = () => {
    rng = (Math.imul(rng, 1664525) + 1013904223) >>> 0;
    return rng / 4294967296;
  };
  const window = (stream: number[], start: number) => [1, ...stream.slice(start, start + SEQ_LEN - 1)];
  const estimatedSteps = Number(process.env.PRETRAIN_STEPS ?? 4000);
  const trainer = new Trainer({
    variables,
    schedule: { kind: 'cosine', peak: PEAK_LR, warmupSteps: 100, totalSteps: estimatedSteps },
    maxGradNorm: 1,
    weightDecay: 0.01,
  });
  const heldOutLoss = () => {
    let total = 0;
    const batches = 8;
    for (let b = 0; b < batches; b++) {
      const rows = Array.from({ length: BATCH }, (_, i) =>
        window(heldOut, ((b * BATCH + i) * 997) % (heldOut.length - SEQ_LEN)),
      );
      total += tf.tidy(() => model.loss({ inputIds: rows, labels: rows }).dataSync()[0]!);
    }
    return total / batches;
  };

  const started = Date.now();
  model.train();
  for (let step = 0; step < estimatedSteps && Date.now() - started < MINUTES * 60_000; step++) {
    const rows = Array.from({ length: BATCH }, () =>
      window(train, Math.floor(nextRandom() * (train.length - SEQ_LEN))),
    );
    const { loss, learningRate } = trainer.trainStep(() => model.loss({ inputIds: rows, labels: rows }));
    if (step > 0 && step % 200 === 0) await save(model);
    if (step % 50 === 0) {
      const seconds = (Date.now() - started) / 1000;
      const tokensPerSecond = ((step + 1) * BATCH * SEQ_LEN) / seconds;
      const extra = step % 500 === 0 ? ` held-out ${heldOutLoss().toFixed(3)}` : '';
      console.log(
        `step ${step} loss ${loss.toFixed(3)} lr ${learningRate.toExponential(2)} ${tokensPerSecond.toFixed(0)} tok/s${extra}`,
      );
    }
  }
  model.eval();
  console.log(
    `final held-out loss ${heldOutLoss().toFixed(3)} after ${((Date.now() - started) / 60000).toFixed(1)} min`,
  );
  await save(model);
  console.log(`saved to ${BASE_MODEL_DIR}`);
}

await main();
