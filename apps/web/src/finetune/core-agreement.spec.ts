// The page's run is @peft/training's run: for the same model, data and settings, `fineTune` reports the
// step losses, learning rates and held-out losses that `train()` and `evaluate()` give when called directly
// the way `peft finetune` calls them (no shape buckets, the Node demo's warm-up rule).
import { getPeftModel } from '@peft/adapter-bridge';
import { setupBackend } from '@peft/backends';
import { quantizeModule } from '@peft/quant-bnb4';
import { evaluate, resolveTrainingArguments, train } from '@peft/training';
import { evaluableModel, RunRandomStream, trainableAdapter } from '@peft/training/adapters';
import { veraConfig } from '@peft/vera';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_OPTIONS, type RunOptions } from '../options.js';
import { TINY_CONFIG, tinyDemoInputs } from '../test-support/tiny-demo.js';
import type { RunEvent } from './events.js';
import { fineTune } from './run.js';

beforeAll(async () => {
  await setupBackend('wasm');
});

const OPTIONS: RunOptions = {
  ...DEFAULT_OPTIONS,
  steps: 6,
  batchSize: 8,
  learningRate: 5e-2,
  r: 32,
  evalRows: 12,
  words: 0,
  maxNewTokens: 1,
  seed: 3,
};

/** Losses agree to this much: bucketing only adds masked padding, so the sums differ by rounding at most. */
const LOSS_TOLERANCE = 1e-5;

/** What `train()` and `evaluate()` give when called directly, built without any of the web's code. */
async function referenceRun(): Promise<{ before: number; after: number; losses: number[]; rates: number[] }> {
  const inputs = await tinyDemoInputs();
  const { model, tokenizer } = inputs;
  const eos = TINY_CONFIG.eosTokenIds[0]!;
  const encode = (rows: typeof inputs.train) =>
    rows.map((row) => ('text' in row ? [...tokenizer.encode(row.text), eos] : [...row.input_ids]));
  const trainSet = encode(inputs.train);
  const heldOut = encode(inputs.eval.slice(0, OPTIONS.evalRows));
  quantizeModule(model, { quantType: 'nf4', doubleQuant: true, blocksize: 64 });
  const peft = getPeftModel(
    model,
    veraConfig({ r: OPTIONS.r, target_modules: 'all-linear', projection_prng_key: OPTIONS.seed }),
  );
  try {
    const seqLen = TINY_CONFIG.maxPositionEmbeddings;
    const padTokenId = TINY_CONFIG.padTokenId ?? eos;
    const evalOptions = { batchSize: 4, seqLen, padTokenId };
    const before = await evaluate(evaluableModel(model), heldOut, evalOptions);
    const losses: number[] = [];
    const rates: number[] = [];
    await train({
      model: trainableAdapter(model, peft, new RunRandomStream(OPTIONS.seed)),
      train: trainSet,
      padTokenId,
      args: resolveTrainingArguments(
        {
          steps: OPTIONS.steps,
          batchSize: OPTIONS.batchSize,
          learningRate: OPTIONS.learningRate,
          seed: OPTIONS.seed,
          seqLen,
          // apps/cli/src/demo/run-demo.ts
          warmupSteps: Math.min(20, OPTIONS.steps),
        },
        { learningRate: OPTIONS.learningRate, maxPositions: seqLen },
      ),
      callbacks: {
        onStep: (p) => {
          losses.push(p.loss);
          rates.push(p.learningRate);
        },
      },
    });
    const after = await evaluate(evaluableModel(model), heldOut, evalOptions);
    return { before: before.loss, after: after.loss, losses, rates };
  } finally {
    peft.dispose();
  }
}

describe('the page run and @peft/training', () => {
  it('give the same step losses, learning rates and held-out losses for the same seed, model and data', async () => {
    const tensorsBefore = tf.memory().numTensors;
    const events: RunEvent[] = [];
    await fineTune(await tinyDemoInputs(), OPTIONS, (e) => events.push(e));
    const steps = events.filter((e) => e.type === 'step');
    const evals = events.filter((e) => e.type === 'eval');

    const reference = await referenceRun();
    expect(tf.memory().numTensors).toBe(tensorsBefore);

    expect(steps.map((s) => s.learningRate)).toEqual(reference.rates);
    // Six steps, all of them warm-up (min(20, steps)): the rate climbs linearly to the peak.
    expect(reference.rates).toEqual([1, 2, 3, 4, 5, 6].map((k) => (OPTIONS.learningRate * k) / 6));
    expect(steps).toHaveLength(reference.losses.length);
    steps.forEach((s, i) => {
      expect(Math.abs(s.loss - reference.losses[i]!), `step ${i + 1}`).toBeLessThan(LOSS_TOLERANCE);
    });
    expect(Math.abs(evals[0]!.loss - reference.before)).toBeLessThan(LOSS_TOLERANCE);
    expect(Math.abs(evals[1]!.loss - reference.after)).toBeLessThan(LOSS_TOLERANCE);
    // The run trained: not a comparison of two runs that did nothing.
    expect(reference.after).toBeLessThan(reference.before - 0.01);
    console.log(
      `page vs train(): max step-loss difference ${Math.max(...steps.map((s, i) => Math.abs(s.loss - reference.losses[i]!)))}`,
    );
  });
});
