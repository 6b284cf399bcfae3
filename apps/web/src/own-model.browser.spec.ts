// End to end with the user's own files: writes a small Llama folder (sharded, with an index) and a JSONL file of
// prompt-completion rows, builds the page with Vite, serves it on 127.0.0.1, and in headless Debian Chromium picks
// the folder with the directory picker and the data with the file input, fine-tunes LoRA for 3 steps on the
// backend `auto` picks (wasm: headless Chromium's WebGPU adapter is SwiftShader, a software fallback), generates,
// downloads the adapter zip and compares it with the adapter `finetune()` writes in Node for the same inputs.
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setupBackend } from '@peft/backends';
import { chromiumForTests } from '@peft/browser-test';
import { parseSafetensors, toFloat32 } from '@peft/core';
import { llamaConfig } from '@peft/models';
import { writeRandomModel } from '@peft/models/node';
import '@peft/lora';
import '@peft/quant-bnb4';
import { finetune } from '@peft/training/node';
import { unzipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServedPage, servePage } from './test-support/served-page.js';

const executablePath = chromiumForTests('@peft/web own-model fine-tuning in Chromium');

const CONFIG = llamaConfig({
  vocab_size: 384,
  hidden_size: 64,
  intermediate_size: 128,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  max_position_embeddings: 64,
  bos_token_id: 1,
  eos_token_id: 2,
});
const KV = 32; // 2 key-value heads of 64 / 4
/** Each adapted projection: [in, out] (the head stays unadapted). */
const PROJECTIONS: Record<string, [number, number]> = {
  'self_attn.q_proj': [64, 64],
  'self_attn.k_proj': [64, KV],
  'self_attn.v_proj': [64, KV],
  'self_attn.o_proj': [64, 64],
  'mlp.gate_proj': [64, 128],
  'mlp.up_proj': [64, 128],
  'mlp.down_proj': [128, 64],
};
const RUN = { steps: 3, batchSize: 4, learningRate: 0.01, r: 4, loraAlpha: 8, seqLen: 32, seed: 5 };

const ROWS = Array.from({ length: 24 }, (_, i) => ({
  prompt: `count ${i}:`,
  completion: ` ${i + 1} ${i + 2}`,
}));

describe.skipIf(!executablePath)('fine-tuning your own model folder in headless Chromium', () => {
  let work = '';
  let served: ServedPage | null = null;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'peft-web-own-'));
    await writeRandomModel(join(work, 'tiny-llama'), CONFIG, {
      seed: 11,
      dtype: 'float32',
      maxShardBytes: 200_000,
    });
    await writeFile(join(work, 'train.jsonl'), `${ROWS.map((row) => JSON.stringify(row)).join('\n')}\n`);
    served = await servePage(join(work, 'page'), executablePath!);
  });

  afterAll(async () => {
    await served?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('trains LoRA on the chosen folder and data, shows progress in every phase, and downloads the adapter finetune() writes', async () => {
    const context = await served!.browser.newContext({ acceptDownloads: true });
    const page = await context.newPage();
    const lines: string[] = [];
    page.on('console', (m) => lines.push(`${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => lines.push(`pageerror: ${e.message}`));
    const query = new URLSearchParams({
      backend: 'auto',
      method: 'lora',
      r: String(RUN.r),
      methodOptions: `loraAlpha=${RUN.loraAlpha}`,
      quantize: 'nf4',
      steps: String(RUN.steps),
      batch: String(RUN.batchSize),
      lr: String(RUN.learningRate),
      seqLen: String(RUN.seqLen),
      seed: String(RUN.seed),
      evalRows: '8',
      maxNewTokens: '4',
    });
    await page.goto(`${served!.url}?${query}`);
    await expect.poll(() => page.locator('select[name="method"]').inputValue()).toBe('lora');
    // Every text the phase line and the progress line show, in order.
    await page.evaluate(() => {
      const seen: string[] = [];
      (window as unknown as { __seen: string[] }).__seen = seen;
      const read = (id: string) => document.querySelector(`[data-testid="${id}"]`)?.textContent ?? '';
      new MutationObserver(() => {
        const now = `${read('phase')} | ${read('progress-text')}`;
        if (seen.at(-1) !== now) seen.push(now);
      }).observe(document.body, { subtree: true, childList: true, characterData: true });
    });
    await page.getByTestId('model-folder').setInputFiles(join(work, 'tiny-llama'));
    await page.getByTestId('train-file').setInputFiles(join(work, 'train.jsonl'));
    expect(await page.getByTestId('source').inputValue()).toBe('files');
    await page.getByTestId('start').click();
    try {
      await page.waitForFunction(
        () => /^(Done|Failed)/.test(document.querySelector('[data-testid="phase"]')?.textContent ?? ''),
        undefined,
        { timeout: 240_000, polling: 250 },
      );
    } catch (error) {
      throw new Error(`the run did not finish\n${lines.join('\n')}`, { cause: error });
    }
    const error = page.getByTestId('error');
    if (await error.isVisible())
      throw new Error(`the page failed: ${await error.textContent()}\n${lines.join('\n')}`);

    expect(await page.getByTestId('backend').textContent()).toBe('wasm');
    expect(await page.getByTestId('backend-reason').textContent()).toMatch(
      /^auto: wasm with SIMD \(webgpu: the WebGPU adapter is a software fallback: SwiftShader; ask for "webgpu" by name/,
    );
    expect(await page.getByTestId('model').textContent()).toMatch(
      /2 layers, hidden 64, vocabulary 384; 14 linear layers in NF4: .*linear layers: 14 bnb4-nf4, 1 dense/,
    );
    expect(await page.getByTestId('parameters').textContent()).toMatch(/method lora$/);
    const seen = await page.evaluate(() => (window as unknown as { __seen: string[] }).__seen);
    const progressOf = (phase: RegExp, unit: string) =>
      seen
        .filter((s) => phase.test(s.split(' | ')[0]!) && s.endsWith(` ${unit}`))
        .map((s) => s.split(' | ')[1]);
    const tensors = 3 + 9 * CONFIG.numHiddenLayers; // embeddings, final norm, head; 7 projections + 2 norms a layer
    // Quantized as each weight is read, as `peft finetune --quantize nf4` does: no dense copy of the model.
    expect(
      progressOf(/^Loading \d+ tensors of tiny-llama, quantizing its linear layers to NF4$/, 'tensors'),
    ).toContain(`${tensors}/${tensors} tensors`);
    expect(seen.some((s) => s.startsWith('Quantizing'))).toBe(false);
    expect(progressOf(/^Loss on train\.jsonl .* before/, 'rows')).toContain('8/8 rows');
    expect(progressOf(/^Loss on train\.jsonl .* after/, 'rows')).toContain('8/8 rows');
    expect(progressOf(/^Fine-tuning for 3 steps/, 'steps')).toEqual(['1/3 steps', '2/3 steps', '3/3 steps']);
    expect(seen.some((s) => /^Generating up to 4 tokens for 1 prompt before/.test(s))).toBe(true);
    // The first prompt row is generated from, before and after.
    const generation = await page.getByTestId('generations').locator('tr td').allTextContents();
    expect(generation[0]).toBe('count 0:');
    expect(generation[1]).toBe('1 2');
    expect(generation).toHaveLength(4);

    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByTestId('download').click(),
    ]);
    expect(download.suggestedFilename()).toBe('lora-adapter.zip');
    const files = unzipSync(new Uint8Array(await readFile((await download.path())!)));
    await context.close();

    expect(Object.keys(files).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
    const config = JSON.parse(new TextDecoder().decode(files['adapter_config.json']));
    expect(config).toMatchObject({ peft_type: 'LORA', r: RUN.r, lora_alpha: RUN.loraAlpha });
    // "all-linear" is saved as the paths it matched, as the library writes it (peft expands it the same way).
    expect([...config.target_modules].sort()).toEqual(
      Array.from({ length: CONFIG.numHiddenLayers }, (_, layer) =>
        Object.keys(PROJECTIONS).map((name) => `model.layers.${layer}.${name}`),
      )
        .flat()
        .sort(),
    );
    const weights = parseSafetensors(files['adapter_model.safetensors']!, 'adapter_model.safetensors');
    const expected: [string, number[]][] = [];
    for (let layer = 0; layer < CONFIG.numHiddenLayers; layer++)
      for (const [name, [inFeatures, outFeatures]] of Object.entries(PROJECTIONS)) {
        const prefix = `base_model.model.model.layers.${layer}.${name}`;
        expected.push(
          [`${prefix}.lora_A.weight`, [RUN.r, inFeatures]],
          [`${prefix}.lora_B.weight`, [outFeatures, RUN.r]],
        );
      }
    expect(weights.keys().sort()).toEqual(expected.map(([key]) => key).sort());
    for (const [key, shape] of expected) expect(weights.info(key).shape, key).toEqual(shape);

    // The same run in Node: `finetune()` on the same folder, data and settings.
    await setupBackend('wasm');
    const nodeOut = join(work, 'node-adapter');
    await mkdir(nodeOut);
    await finetune({
      model: join(work, 'tiny-llama'),
      data: join(work, 'train.jsonl'),
      output: nodeOut,
      overwrite: true,
      method: 'lora',
      r: RUN.r,
      loraAlpha: RUN.loraAlpha,
      targetModules: 'all-linear',
      quantize: 'nf4',
      steps: RUN.steps,
      batchSize: RUN.batchSize,
      learningRate: RUN.learningRate,
      seqLen: RUN.seqLen,
      seed: RUN.seed,
      schedule: 'cosine',
      warmupSteps: RUN.steps,
      weightDecay: 0,
      maxGradNorm: 1,
      saveEvery: 0,
      evalEvery: 0,
    });
    const reference = parseSafetensors(await readFile(join(nodeOut, 'adapter_model.safetensors')));
    expect(reference.keys().sort()).toEqual(weights.keys().sort());
    let worst = 0;
    for (const key of reference.keys()) {
      const a = toFloat32(await weights.get(key));
      const b = toFloat32(await reference.get(key));
      for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
    }
    console.log(`page vs finetune(): largest adapter weight difference ${worst}`);
    // Measured 2.6e-5 (same wasm kernels; the page pads batches to multiples of 8 tokens, which reorders sums).
    expect(worst).toBeLessThan(2e-4);
    const lastB = toFloat32(await weights.get(expected.at(-1)![0]));
    expect(
      lastB.some((v) => v !== 0),
      'training moved lora_B off its zero init',
    ).toBe(true);
  }, 400_000);
});
