import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSafetensorsFile } from '@peft/core/node';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_DEMO_OPTIONS, type DemoReporter, runDemo } from './run-demo.js';

// The real demo, shortened to a few steps: it runs on the embedded base model and data, quantizes,
// attaches VeRA, trains, evaluates and writes the adapter. The full run's improvement is what
// `pnpm demo` shows; here the steps are too few to promise one, so the test checks the mechanics.
describe('peft demo', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('runs end to end on the embedded model and writes a PEFT VeRA adapter', async () => {
    const outDir = await mkdtemp(join(tmpdir(), 'peft-demo-'));
    dirs.push(outDir);
    const lines: string[] = [];
    const steps: number[] = [];
    const reporter: DemoReporter = {
      line: (text) => lines.push(text),
      progressStart: () => {},
      progress: (step, { loss }) => {
        expect(Number.isFinite(loss)).toBe(true);
        steps.push(step);
      },
      progressStop: () => {},
    };
    const result = await runDemo(
      { ...DEFAULT_DEMO_OPTIONS, outDir, steps: 3, sampleWords: 2, backend: 'wasm' },
      reporter,
    );

    expect(steps).toEqual([1, 2, 3]);
    expect(result.backend).toBe('wasm');
    expect(Number.isFinite(result.before.loss) && Number.isFinite(result.after.loss)).toBe(true);
    expect(result.before.tokens).toBeGreaterThan(1000);
    // VeRA on every linear of a 4-layer model: per layer, sum of (out + r) over its 7 linears.
    const config = JSON.parse(await readFile(join(DEFAULT_DEMO_OPTIONS.modelDir, 'config.json'), 'utf8'));
    const {
      hidden_size: h,
      intermediate_size: m,
      num_key_value_heads: kv,
      num_attention_heads: heads,
    } = config;
    const kvDim = (h / heads) * kv;
    const perLayer = h + kvDim + kvDim + h + m + m + h + 7 * DEFAULT_DEMO_OPTIONS.r;
    expect(result.trainableParams).toBe(config.num_hidden_layers * perLayer);
    expect(result.samples).toHaveLength(2);
    expect(lines.some((l) => l.startsWith('held-out loss before fine-tuning'))).toBe(true);

    const adapterConfig = JSON.parse(await readFile(join(result.adapterDir, 'adapter_config.json'), 'utf8'));
    expect(adapterConfig).toMatchObject({ peft_type: 'VERA', r: DEFAULT_DEMO_OPTIONS.r });
    // As PEFT does, "all-linear" is saved resolved to the linear layer names (the head excluded).
    expect([...adapterConfig.target_modules].sort()).toEqual([
      'down_proj',
      'gate_proj',
      'k_proj',
      'o_proj',
      'q_proj',
      'up_proj',
      'v_proj',
    ]);
    const weights = await openSafetensorsFile(join(result.adapterDir, 'adapter_model.safetensors'));
    try {
      expect(weights.metadata?.get('format')).toBe('pt');
      expect(weights.keys()).toContain('base_model.model.model.layers.0.self_attn.q_proj.vera_lambda_b');
      expect(weights.keys()).toContain('base_model.vera_A');
    } finally {
      await weights.close();
    }
  });
});
