import { setupBackend } from '@peft/backends';
import { parseSafetensors, toFloat32 } from '@peft/core';
import '@peft/vera';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { DEFAULT_OPTIONS, type RunOptions } from '../options.js';
import { TINY_CONFIG, tinyDemoInputs } from '../test-support/tiny-demo.js';
import type { RunEvent } from './events.js';
import { fineTune } from './run.js';

beforeAll(async () => {
  await setupBackend('wasm');
});

const OPTIONS: RunOptions = {
  ...DEFAULT_OPTIONS,
  steps: 12,
  batchSize: 8,
  learningRate: 5e-2,
  r: 32,
  evalRows: 12,
  words: 3,
  maxNewTokens: 6,
};

function ofType<T extends RunEvent['type']>(events: RunEvent[], type: T): Extract<RunEvent, { type: T }>[] {
  return events.filter((e): e is Extract<RunEvent, { type: T }> => e.type === type);
}

describe('fineTune on a small random Llama with the demo tokenizer and data', () => {
  it('quantizes, attaches VeRA, trains with falling held-out loss, writes PEFT files and leaks nothing', async () => {
    const tensorsBefore = tf.memory().numTensors;
    const events: RunEvent[] = [];
    const files = await fineTune(await tinyDemoInputs(), OPTIONS, (e) => events.push(e));

    // Order of what the page is told.
    const kinds = events
      .filter((e) => e.type !== 'phase' && e.type !== 'step' && e.type !== 'progress')
      .map((e) => e.type);
    expect(kinds).toEqual(['model', 'parameters', 'eval', 'generations', 'eval', 'generations']);

    // Every linear but lm_head is NF4: 7 per layer; 4-bit storage is well under a fifth of float32's.
    // Quantizing reports each layer, from 0 to all of them.
    const layers = 7 * TINY_CONFIG.numHiddenLayers;
    const quantizing = ofType(events, 'progress').filter((p) => p.unit === 'layers');
    expect(quantizing.map((p) => p.done)).toEqual(Array.from({ length: layers + 1 }, (_, i) => i));
    // Evaluation reports its rows, before and after.
    const rows = ofType(events, 'progress').filter((p) => p.unit === 'rows');
    expect(rows.filter((p) => p.done === OPTIONS.evalRows && p.total === OPTIONS.evalRows)).toHaveLength(2);
    const [model] = ofType(events, 'model');
    expect(model!.quantizedLinears).toBe(7 * TINY_CONFIG.numHiddenLayers);
    expect(model!.quantizedBytes).toBeLessThan(model!.denseBytes / 5);

    // VeRA trains lambda_d (r) and lambda_b (out features) per adapted layer; nothing else.
    const kv = (TINY_CONFIG.numKeyValueHeads * TINY_CONFIG.hiddenSize) / TINY_CONFIG.numAttentionHeads;
    const outs = [64, kv, kv, 64, 128, 128, 64];
    const perLayer = outs.reduce((sum, out) => sum + out + OPTIONS.r, 0);
    const [params] = ofType(events, 'parameters');
    expect(params!.trainable).toBe(perLayer * TINY_CONFIG.numHiddenLayers);
    expect(params!.summary).toMatch(/^trainable params: [\d,]+ \|\| all params: [\d,]+ \|\| trainable%: /);

    const steps = ofType(events, 'step');
    expect(steps.map((s) => s.step)).toEqual(Array.from({ length: OPTIONS.steps }, (_, i) => i + 1));
    // Memory discipline: the tensor count is flat from the second step on (the first creates optimizer state).
    expect(new Set(steps.slice(1).map((s) => s.numTensors)).size).toBe(1);

    const [before, after] = ofType(events, 'eval');
    expect(before!.rows).toBe(OPTIONS.evalRows);
    expect(before!.loss).toBeGreaterThan(after!.loss + 0.05);
    // A random model over 1024 tokens starts near ln(1024).
    expect(Math.abs(before!.loss - Math.log(1024))).toBeLessThan(0.5);

    const [genBefore, genAfter] = ofType(events, 'generations');
    expect(genBefore!.items.map((g) => g.word)).toEqual(['enrich', 'paralysis', 'sugar']);
    expect(genBefore!.items[0]!.expected).toBe('EH0 N R IH1 CH');
    expect(genAfter!.items).toHaveLength(3);

    // The adapter folder, as PEFT writes it.
    expect([...files.keys()].sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
    const config = JSON.parse(new TextDecoder().decode(files.get('adapter_config.json')));
    expect(config).toMatchObject({ peft_type: 'VERA', r: OPTIONS.r, projection_prng_key: OPTIONS.seed });
    const weights = parseSafetensors(files.get('adapter_model.safetensors')!);
    expect(weights.metadata?.get('format')).toBe('pt');
    const keys = weights.keys();
    expect(keys).toContain('base_model.model.model.layers.0.self_attn.q_proj.vera_lambda_b');
    expect(keys).toContain('base_model.model.model.layers.1.mlp.down_proj.vera_lambda_d');
    expect(keys).toContain('base_model.vera_A');
    expect(keys.filter((k) => k.includes('lm_head'))).toEqual([]);
    expect(keys).toHaveLength(2 + 2 * 7 * TINY_CONFIG.numHiddenLayers);
    // Training moved lambda_b away from its zero init.
    const lambdaB = toFloat32(
      await weights.get('base_model.model.model.layers.0.self_attn.q_proj.vera_lambda_b'),
    );
    expect(lambdaB.some((v) => v !== 0)).toBe(true);

    // The run disposed the model, its adapters and the optimizer.
    expect(tf.memory().numTensors).toBe(tensorsBefore);
  });

  it('computes on one backend and quantizes and saves on another (the WebGPU arrangement), moving tensors between them', async () => {
    await setupBackend('cpu');
    await setupBackend('wasm');
    const tensorsBefore = tf.memory().numTensors;
    const events: RunEvent[] = [];
    const backendsSeen = new Set<string>();
    const files = await fineTune(
      await tinyDemoInputs({ train: 16, eval: 4 }),
      { ...OPTIONS, steps: 2, batchSize: 4, evalRows: 4, words: 1, maxNewTokens: 2 },
      (e) => {
        events.push(e);
        backendsSeen.add(tf.getBackend());
      },
      { compute: 'cpu', host: 'wasm', reason: 'test' },
    );
    expect(backendsSeen).toEqual(new Set(['wasm', 'cpu']));
    expect(ofType(events, 'step').every((s) => Number.isFinite(s.loss))).toBe(true);
    expect(tf.getBackend()).toBe('wasm');
    const weights = parseSafetensors(files.get('adapter_model.safetensors')!);
    expect(weights.keys()).toHaveLength(2 + 2 * 7 * TINY_CONFIG.numHiddenLayers);
    expect(tf.memory().numTensors).toBe(tensorsBefore);
  });

  it('disposes the model when the run fails, and names the bad row', async () => {
    const tensorsBefore = tf.memory().numTensors;
    const inputs = await tinyDemoInputs({ train: 8, eval: 4 });
    inputs.eval = [{ text: 'no colon here' }];
    await expect(fineTune(inputs, { ...OPTIONS, words: 1 }, () => {})).rejects.toThrow(
      /finetune-eval\.jsonl: row "no colon here" is not "word: PHONEMES"/,
    );
    expect(tf.memory().numTensors).toBe(tensorsBefore);
  });

  it('runs without Web Crypto (a page outside a secure context): a run with no checkpoints hashes nothing', async () => {
    const inputs = await tinyDemoInputs({ train: 8, eval: 4 });
    vi.stubGlobal('crypto', undefined);
    try {
      const files = await fineTune(inputs, { ...OPTIONS, steps: 2 }, () => {});
      expect([...files.keys()]).toContain('adapter_model.safetensors');
    } finally {
      vi.unstubAllGlobals();
    }
  });
});
