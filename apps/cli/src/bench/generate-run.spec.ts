import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generate } from '@peft/models';
import { loadModelFolder } from '@peft/training/node';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useBackendForTests, writeTinyModel } from '../test-support/model-folder.js';
import { measureGeneration } from './generate-run.js';

let dir: string;
let model: string;
beforeAll(async () => {
  await useBackendForTests();
  dir = await mkdtemp(join(tmpdir(), 'peft-generate-run-'));
  // Widths of 64: the 4-bit kernels' fixed-point path needs in_features % 64 == 0, as real models have.
  model = await writeTinyModel(join(dir, 'model'), { config: { hidden_size: 64, intermediate_size: 128 } });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('generate-shapes runner', () => {
  it('generates exactly the asked number of tokens, 4-bit and dense, and reports speed and peak memory', async () => {
    for (const quantize of ['nf4', 'none']) {
      const result = await measureGeneration(model, quantize, 6, 1);
      expect(result.quantize).toBe(quantize);
      // No end-of-sequence stop: a random model that emits eos early would make runs incomparable.
      expect(result.newTokens).toBe(6);
      expect(Number.isFinite(result.tokensPerSecond) && result.tokensPerSecond > 0).toBe(true);
      expect(result.firstTokenMs).toBeGreaterThan(0);
      expect(result.peakRssBytes).toBeGreaterThan(0);
    }
  });

  it('decodes a 4-bit model with the fused 4-bit matmul on one new token per step (KV cache), never dequantizing', async () => {
    const base = await loadModelFolder(model, { quantize: 'nf4' });
    try {
      base.model.eval();
      const prompt = [1, 5, 6, 7];
      const info = await tf.profile(async () => {
        await generate(base.model, prompt, { maxNewTokens: 3, eosTokenId: [] });
      });
      const names = info.kernels.map((k) => k.name);
      expect(names).not.toContain('PeftBnb4Dequantize');
      const rows = info.kernels.filter((k) => k.name === 'PeftBnb4Matmul').map((k) => k.inputShapes[0]![0]);
      // 2 layers x 7 projections: the prompt's 4 rows once, then 1 row for each of the 2 later tokens.
      expect(rows).toEqual([...new Array<number>(14).fill(4), ...new Array<number>(28).fill(1)]);
    } finally {
      base.model.dispose();
    }
  });
});
