// End to end: builds the real page with Vite, serves it on 127.0.0.1 and drives it in headless Debian Chromium as
// a user would: settings in the query string, press Fine-tune, wait, download the adapter zip.
//
// Two runs. The fine-tuning itself (loss falls, adapter files) runs on wasm: WebGPU in headless Chromium is
// Google's SwiftShader, a CPU emulation far slower than wasm for this model (a training step takes about 1 s
// for 16 rows on wasm, about 14 s for 2 rows on SwiftShader), which is why `auto` passes it over. Then a short
// run with WebGPU asked for by name: it checks the whole flow there too (loading, NF4 on the host, training, the
// adapter download) and that WebGPU's held-out loss agrees with wasm's.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromiumForTests } from '@peft/browser-test';
import { parseSafetensors, type SafetensorsSource, toFloat32 } from '@peft/core';
import { unzipSync } from 'fflate';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServedPage, servePage } from './test-support/served-page.js';

const executablePath = chromiumForTests('@peft/web fine-tuning page in Chromium');

/** The demo base model: 4 decoder layers of 7 linears each (lm_head stays dense and unadapted). */
const LAYERS = 4;
const EVAL_ROWS = 16;

interface StepRow {
  step: number;
  loss: number;
  tensors: number;
}

interface FinishedRun {
  context: BrowserContext;
  page: Page;
  backend: string;
  reason: string;
  evalBefore: number;
  evalAfter: number;
  steps: StepRow[];
}

async function text(page: Page, testId: string): Promise<string> {
  return (await page.getByTestId(testId).textContent()) ?? '';
}

async function evalLoss(page: Page, when: 'before' | 'after'): Promise<number> {
  return Number(await page.getByTestId(`eval-${when}`).getAttribute('data-value'));
}

async function stepLog(page: Page): Promise<StepRow[]> {
  const rows = await page
    .getByTestId('step-log')
    .locator('tr')
    .evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '')));
  return rows.map(([step, loss, , tensors]) => ({
    step: Number(step),
    loss: Number(loss),
    tensors: Number(tensors),
  }));
}

/** Opens the page with `query`, presses Fine-tune and waits for the end; a failure shown on the page fails the test. */
async function runPage(browser: Browser, url: string, query: string): Promise<FinishedRun> {
  const context = await browser.newContext({ acceptDownloads: true });
  const page = await context.newPage();
  const lines: string[] = [];
  page.on('console', (m) => lines.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => lines.push(`pageerror: ${e.message}`));
  await page.goto(`${url}?${query}`);
  const steps = Number(new URLSearchParams(query).get('steps'));
  await expect.poll(() => page.locator('input[name="steps"]').inputValue()).toBe(String(steps));
  await page.getByTestId('start').click();
  try {
    await page.waitForFunction(
      () => {
        const phase = document.querySelector('[data-testid="phase"]')?.textContent ?? '';
        return phase.startsWith('Done') || phase.startsWith('Failed');
      },
      undefined,
      { timeout: 400_000, polling: 250 },
    );
  } catch (error) {
    const where = `${await text(page, 'phase')} / ${await text(page, 'last-step')}`;
    throw new Error(`the run did not finish (${where})\n${lines.join('\n')}`, { cause: error });
  }
  const error = page.getByTestId('error');
  if (await error.isVisible())
    throw new Error(`the page failed: ${await error.textContent()}\n${lines.join('\n')}`);
  return {
    context,
    page,
    backend: await text(page, 'backend'),
    reason: await text(page, 'backend-reason'),
    evalBefore: await evalLoss(page, 'before'),
    evalAfter: await evalLoss(page, 'after'),
    steps: await stepLog(page),
  };
}

/** Presses Download and reads the zip Chromium saved: the adapter folder's files by name. */
async function downloadAdapter(page: Page): Promise<Record<string, Uint8Array>> {
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('download').click()]);
  expect(download.suggestedFilename()).toBe('vera-adapter.zip');
  return unzipSync(new Uint8Array(await readFile((await download.path())!)));
}

/** Checks the folder is a PEFT VeRA adapter for the demo model; returns its weights. */
function expectPeftAdapter(files: Record<string, Uint8Array>, r: number): SafetensorsSource {
  expect(Object.keys(files).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
  const config = JSON.parse(new TextDecoder().decode(files['adapter_config.json']));
  expect(config).toMatchObject({ peft_type: 'VERA', r, save_projection: true, projection_prng_key: 0 });
  const weights = parseSafetensors(files['adapter_model.safetensors']!, 'adapter_model.safetensors');
  expect(Object.fromEntries(weights.metadata ?? [])).toEqual({ format: 'pt' });
  const keys = weights.keys();
  expect(keys).toHaveLength(2 + LAYERS * 7 * 2);
  for (let layer = 0; layer < LAYERS; layer++) {
    for (const name of ['q_proj', 'k_proj', 'v_proj', 'o_proj']) {
      for (const param of ['vera_lambda_b', 'vera_lambda_d'])
        expect(keys).toContain(`base_model.model.model.layers.${layer}.self_attn.${name}.${param}`);
    }
    for (const name of ['gate_proj', 'up_proj', 'down_proj'])
      expect(keys).toContain(`base_model.model.model.layers.${layer}.mlp.${name}.vera_lambda_b`);
  }
  // Shapes from the LOGICAL layer shapes of the NF4 base (hidden 128, 2 of 4 heads for k/v, mlp 352).
  expect(weights.info('base_model.vera_A').shape).toEqual([r, 352]);
  expect(weights.info('base_model.vera_B').shape).toEqual([352, r]);
  expect(weights.info('base_model.model.model.layers.0.self_attn.k_proj.vera_lambda_b').shape).toEqual([64]);
  expect(weights.info('base_model.model.model.layers.0.mlp.down_proj.vera_lambda_d').shape).toEqual([r]);
  return weights;
}

describe.skipIf(!executablePath)('the fine-tuning page in headless Chromium', () => {
  let outDir = '';
  let served: ServedPage | null = null;
  let wasmEvalBefore: number | null = null;

  beforeAll(async () => {
    outDir = await mkdtemp(join(tmpdir(), 'peft-web-e2e-'));
    served = await servePage(outDir, executablePath!);
  });

  afterAll(async () => {
    await served?.close();
    if (outDir) await rm(outDir, { recursive: true, force: true });
  });

  it('fine-tunes the NF4 demo model with VeRA on wasm: the loss falls and the adapter downloads', async () => {
    const steps = 8;
    const run = await runPage(
      served!.browser,
      served!.url,
      `backend=wasm&steps=${steps}&evalRows=${EVAL_ROWS}&words=2&maxNewTokens=8`,
    );
    const { page } = run;
    expect(run.backend).toBe('wasm');
    expect(run.reason).toBe('requested "wasm"');
    expect(await text(page, 'model')).toMatch(/4 layers, .* 28 linear layers in NF4/);
    expect(await text(page, 'parameters')).toMatch(/^[\d,]+ of [\d,]+ \(trainable params: /);

    // Every step logged; the tensor count is flat after the first step (no leak in the training loop).
    expect(run.steps.map((r) => r.step)).toEqual(Array.from({ length: steps }, (_, i) => i + 1));
    expect(new Set(run.steps.slice(1).map((r) => r.tensors)).size).toBe(1);
    const chart = await page.locator('[data-testid="loss-chart"] path.loss-line').getAttribute('d');
    expect(chart?.match(/[ML]/g)).toHaveLength(steps);

    // The loss falls: held out, and over training (mean of the last three steps below the first three).
    console.log(
      `wasm: held-out loss ${run.evalBefore} -> ${run.evalAfter}; training ${run.steps.map((r) => r.loss).join(', ')}`,
    );
    expect(run.evalAfter).toBeLessThan(run.evalBefore);
    const mean = (rows: StepRow[]) => rows.reduce((s, r) => s + r.loss, 0) / rows.length;
    expect(mean(run.steps.slice(-3))).toBeLessThan(mean(run.steps.slice(0, 3)));
    expect(await page.getByTestId('generations').locator('tr').count()).toBe(2);

    const weights = expectPeftAdapter(await downloadAdapter(page), 256);
    const lambdaB = toFloat32(
      await weights.get('base_model.model.model.layers.0.self_attn.q_proj.vera_lambda_b'),
    );
    expect(
      lambdaB.some((v) => v !== 0),
      'training moved lambda_b off its zero init',
    ).toBe(true);
    wasmEvalBefore = run.evalBefore;
    await run.context.close();
  }, 300_000);

  it('runs the same flow on WebGPU (SwiftShader here) when asked for by name', async () => {
    const run = await runPage(
      served!.browser,
      served!.url,
      `backend=webgpu&steps=2&batch=2&evalRows=${EVAL_ROWS}&words=1&maxNewTokens=4&r=64`,
    );
    console.log(`webgpu: held-out loss before ${run.evalBefore} (wasm: ${wasmEvalBefore})`);
    expect(run.backend).toBe('webgpu');
    expect(run.reason).toBe('requested "webgpu"');
    expect(run.steps.map((r) => r.step)).toEqual([1, 2]);
    expect(run.steps.every((r) => Number.isFinite(r.loss))).toBe(true);
    expect(Number.isFinite(run.evalAfter)).toBe(true);
    // Same base model, same rows, same padding: the backends agree (wasm's 4-bit matmul is ~1e-4 relative).
    if (wasmEvalBefore !== null) expect(Math.abs(run.evalBefore - wasmEvalBefore)).toBeLessThan(1e-3);
    expectPeftAdapter(await downloadAdapter(run.page), 64);
    await run.context.close();
  }, 480_000);
});
