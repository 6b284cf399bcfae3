import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { peftModelFromFolder as loadAdapter } from '@peft/adapter-bridge/node';
import { parseSafetensors, toFloat32 } from '@peft/core';
import { loadPretrainedFolder } from '@peft/models/node';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { useBackendForTests, writeTinyModel } from '../test-support/model-folder.js';
import { runPeft, tempDir } from './test-support/checkpoints.js';

let tmp: Awaited<ReturnType<typeof tempDir>>;
let modelDir: string;
beforeAll(useBackendForTests);
beforeEach(async () => {
  tmp = await tempDir();
  modelDir = await writeTinyModel(join(tmp.dir, 'model'));
});
afterEach(async () => {
  await tmp.cleanup();
});

async function configFile(json: object): Promise<string> {
  const path = join(tmp.dir, `config-${Math.random().toString(36).slice(2)}.json`);
  await writeFile(path, JSON.stringify(json));
  return path;
}

describe('peft init-adapter', () => {
  it('writes an untrained LoRA adapter in PEFT format: B zero, A Kaiming-uniform, repeatable for a seed', async () => {
    const config = await configFile({
      peft_type: 'LORA',
      r: 4,
      lora_alpha: 8,
      target_modules: ['q_proj', 'v_proj'],
    });
    const out = join(tmp.dir, 'adapter');
    const run = await runPeft('init-adapter', modelDir, '--config', config, '-o', out, '--backend', 'wasm');
    expect(run.code, run.stderr).toBe(0);
    // r (in + out) per layer: q_proj 4 (32 + 32), v_proj 4 (32 + 16) (2 KV heads of 8), in 2 layers.
    expect(run.stdout).toMatch(/LORA adapter on 4 layers: trainable params: 896 \|\|/);

    const saved = JSON.parse(await readFile(join(out, 'adapter_config.json'), 'utf8'));
    expect(saved).toMatchObject({
      peft_type: 'LORA',
      r: 4,
      lora_alpha: 8,
      target_modules: ['q_proj', 'v_proj'],
      inference_mode: true,
      base_model_name_or_path: modelDir,
      auto_mapping: {
        base_model_class: 'LlamaForCausalLM',
        parent_library: 'transformers.models.llama.modeling_llama',
      },
    });
    const bytes = await readFile(join(out, 'adapter_model.safetensors'));
    const weights = parseSafetensors(new Uint8Array(bytes));
    expect(weights.keys().sort()).toEqual(
      [0, 1]
        .flatMap((l) =>
          ['q_proj', 'v_proj'].flatMap((p) =>
            ['lora_A', 'lora_B'].map((w) => `base_model.model.model.layers.${l}.self_attn.${p}.${w}.weight`),
          ),
        )
        .sort(),
    );
    const a = toFloat32(await weights.get('base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight'));
    const b = toFloat32(await weights.get('base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight'));
    expect(b.every((v) => v === 0)).toBe(true);
    const bound = 1 / Math.sqrt(32);
    expect(Math.max(...a.map(Math.abs))).toBeLessThanOrEqual(bound);
    expect(Math.max(...a.map(Math.abs))).toBeGreaterThan(bound / 2);

    // The same seed writes the same file; another seed another A.
    const again = join(tmp.dir, 'again');
    expect(
      (await runPeft('init-adapter', modelDir, '--config', config, '-o', again, '--backend', 'wasm')).code,
    ).toBe(0);
    expect(Buffer.compare(await readFile(join(again, 'adapter_model.safetensors')), bytes)).toBe(0);
    const seeded = join(tmp.dir, 'seeded');
    expect(
      (
        await runPeft(
          'init-adapter',
          modelDir,
          '--config',
          config,
          '-o',
          seeded,
          '--seed',
          '1',
          '--backend',
          'wasm',
        )
      ).code,
    ).toBe(0);
    expect(Buffer.compare(await readFile(join(seeded, 'adapter_model.safetensors')), bytes)).not.toBe(0);

    // It loads back onto the model, and trains from there with `finetune --adapter`.
    const { model } = await loadPretrainedFolder(modelDir);
    const peft = await loadAdapter(model, out);
    expect(peft.adapterLayers()).toHaveLength(4);
    peft.dispose();
  });

  it('writes a VeRA adapter with its projections, "all-linear" resolved as PEFT stores it', async () => {
    const config = await configFile({
      peft_type: 'VERA',
      r: 8,
      target_modules: 'all-linear',
      save_projection: true,
    });
    const out = join(tmp.dir, 'vera');
    expect(
      (await runPeft('init-adapter', modelDir, '--config', config, '-o', out, '--backend', 'wasm')).code,
    ).toBe(0);
    const saved = JSON.parse(await readFile(join(out, 'adapter_config.json'), 'utf8'));
    expect(saved.target_modules).toHaveLength(14);
    expect(saved.target_modules).not.toContain('lm_head');
    const weights = parseSafetensors(new Uint8Array(await readFile(join(out, 'adapter_model.safetensors'))));
    // vera_A [r, max in] and vera_B [max out, r] over every adapted layer (max in 48, max out 48).
    expect(weights.info('base_model.vera_A').shape).toEqual([8, 48]);
    expect(weights.info('base_model.vera_B').shape).toEqual([48, 8]);
  });

  it('refuses a missing or unknown config and keeps an existing adapter unless --overwrite', async () => {
    const missing = await runPeft(
      'init-adapter',
      modelDir,
      '--config',
      join(tmp.dir, 'none.json'),
      '-o',
      join(tmp.dir, 'o'),
    );
    expect(missing.code).toBe(3);
    expect(missing.stderr).toMatch(/none\.json cannot be read/);
    const unknown = await runPeft(
      'init-adapter',
      modelDir,
      '--config',
      await configFile({ peft_type: 'BOFT' }),
      '-o',
      join(tmp.dir, 'o'),
    );
    expect(unknown.code).toBe(3);
    expect(unknown.stderr).toContain('install @peft/boft');
    const badField = await runPeft(
      'init-adapter',
      modelDir,
      '--config',
      await configFile({ peft_type: 'LORA', use_dora: true }),
      '-o',
      join(tmp.dir, 'o'),
    );
    expect(badField.code).toBe(3);
    expect(badField.stderr).toContain('use_dora');
    const noMatch = await runPeft(
      'init-adapter',
      modelDir,
      '--config',
      await configFile({ peft_type: 'LORA', target_modules: ['c_attn'] }),
      '-o',
      join(tmp.dir, 'o'),
      '--backend',
      'wasm',
    );
    expect(noMatch.code).toBe(3);
    expect(noMatch.stderr).toMatch(/matched no module of the model/);

    const config = await configFile({ peft_type: 'LORA', r: 2 });
    const out = join(tmp.dir, 'adapter');
    expect(
      (await runPeft('init-adapter', modelDir, '--config', config, '-o', out, '--backend', 'wasm')).code,
    ).toBe(0);
    const before = await readFile(join(out, 'adapter_model.safetensors'));
    const other = await configFile({ peft_type: 'LORA', r: 3 });
    const kept = await runPeft('init-adapter', modelDir, '--config', other, '-o', out, '--backend', 'wasm');
    expect(kept.code).toBe(3);
    expect(kept.stderr).toMatch(/already holds an adapter/);
    expect(Buffer.compare(await readFile(join(out, 'adapter_model.safetensors')), before)).toBe(0);
    expect(
      (
        await runPeft(
          'init-adapter',
          modelDir,
          '--config',
          other,
          '-o',
          out,
          '--overwrite',
          '--backend',
          'wasm',
        )
      ).code,
    ).toBe(0);
    expect(JSON.parse(await readFile(join(out, 'adapter_config.json'), 'utf8')).r).toBe(3);

    // Without --config the method options say what to create; a method option beside --config is a usage error.
    const fromOptions = join(tmp.dir, 'from-options');
    const made = await runPeft(
      'init-adapter',
      modelDir,
      '-o',
      fromOptions,
      '--method',
      'lora',
      '--r',
      '2',
      '--backend',
      'wasm',
    );
    expect(made.code).toBe(0);
    expect(JSON.parse(await readFile(join(fromOptions, 'adapter_config.json'), 'utf8'))).toMatchObject({
      peft_type: 'LORA',
      r: 2,
    });
    expect((await runPeft('init-adapter', modelDir, '--config', other, '--r', '4', '-o', out)).code).toBe(2);
    const help = await runPeft('init-adapter', '--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: peft init-adapter [options] <model-dir>');
  });
});
