import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type AdapterConfig, adapterConfigFromOptions, getPeftModel } from '@peft/adapter-bridge';
import { getQuantizer, isLinear } from '@peft/core';
import { openSafetensorsFile } from '@peft/core/node';
import { checkpointLayout, type LlamaForCausalLM } from '@peft/models';
import { loadPretrainedFolder } from '@peft/models/node';
import { quantizeModule } from '@peft/quant-bnb4';
import { type MethodOptions, moduleCandidates, planFineTuning } from '@peft/training/node';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { TINY_CONFIG, useBackendForTests, writeTinyModel } from '../test-support/model-folder.js';
import { runPeft, tempDir } from './test-support/checkpoints.js';

let tmp: Awaited<ReturnType<typeof tempDir>>;
beforeAll(useBackendForTests);
beforeEach(async () => {
  tmp = await tempDir();
});
afterEach(async () => {
  await tmp.cleanup();
});

/** meta-llama/Llama-2-7b-hf's config.json (the sizes the VeRA paper's counts are for). */
const LLAMA_2_7B = {
  architectures: ['LlamaForCausalLM'],
  bos_token_id: 1,
  eos_token_id: 2,
  hidden_act: 'silu',
  hidden_size: 4096,
  initializer_range: 0.02,
  intermediate_size: 11008,
  max_position_embeddings: 4096,
  model_type: 'llama',
  num_attention_heads: 32,
  num_hidden_layers: 32,
  num_key_value_heads: 32,
  pretraining_tp: 1,
  rms_norm_eps: 1e-5,
  rope_scaling: null,
  tie_word_embeddings: false,
  torch_dtype: 'float16',
  vocab_size: 32000,
};

async function llama7bConfig(): Promise<string> {
  const path = join(tmp.dir, 'config.json');
  await writeFile(path, JSON.stringify(LLAMA_2_7B));
  return path;
}

describe('peft plan on Llama-2-7B (config only)', () => {
  it("reproduces the VeRA paper's trainable parameters: VeRA r=1024 on every linear layer but the head, 1,589,248", async () => {
    const run = await runPeft(
      'plan',
      await llama7bConfig(),
      '--method',
      'vera',
      '--r',
      '1024',
      '--target-modules',
      'all-linear',
      '--json',
    );
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout);
    expect(report.trainable_params).toBe(1_589_248);
    expect(report.adapter).toMatchObject({
      peft_type: 'VERA',
      r: 1024,
      targeted_layers: 224,
      trainable_params: 1_589_248,
    });
    expect(report.parameters).toBe(6_738_415_616);
    expect(report.base_bytes.fp32).toBe(6_738_415_616 * 4);
    expect(report.base_bytes.fp16).toBe(6_738_415_616 * 2);
    // vera_A [1024, 11008] and vera_B [11008, 1024] are saved with the adapter and held as buffers.
    expect(report.adapter.adapter_bytes).toBe(4 * (1_589_248 + 2 * 1024 * 11008));
    expect(report.training_memory.method_buffers).toBe(4 * 2 * 1024 * 11008);
  });

  it('and LoRA r=64 on the same layers: 159,907,840', async () => {
    const run = await runPeft(
      'plan',
      await llama7bConfig(),
      '--method',
      'lora',
      '--r',
      '64',
      '--target-modules',
      'all-linear',
      '--json',
    );
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout);
    expect(report.trainable_params).toBe(159_907_840);
    // PEFT's print_trainable_parameters for this model and config.
    expect(report.adapter.trainable_percent.toFixed(4)).toBe('2.3181');
    expect(report.adapter.target_modules.sort()).toEqual([
      'down_proj',
      'gate_proj',
      'k_proj',
      'o_proj',
      'q_proj',
      'up_proj',
      'v_proj',
    ]);
  });

  it('sizes the base in 4-bit as bitsandbytes stores it', async () => {
    const run = await runPeft('plan', await llama7bConfig(), '--json');
    const { base_bytes: bytes } = JSON.parse(run.stdout);
    // 6,476,005,376 weights in 224 quantized layers: nibbles, absmax per 64, code tables; the rest in fp16.
    const weights = 6_476_005_376;
    const rest = (6_738_415_616 - weights) * 2;
    const perLayer = [
      4096 * 4096,
      4096 * 4096,
      4096 * 4096,
      4096 * 4096,
      11008 * 4096,
      11008 * 4096,
      4096 * 11008,
    ];
    const blocks = perLayer.map((n) => n / 64);
    const tables = 32 * 7 * 64;
    // Each registered quantizer at its defaults: NF4 and FP4 with double quantization, blocksize 64.
    const nested = 32 * blocks.reduce((s, b) => s + Math.ceil(b / 256) * 4 + 1024, 0);
    expect(bytes.quantized.nf4).toBe(weights / 2 + weights / 64 + nested + tables + rest);
    expect(bytes.quantized.fp4).toBe(bytes.quantized.nf4);
  });

  it('prints a readable summary by default (method defaults: VeRA r=256 on q_proj, v_proj)', async () => {
    const run = await runPeft('plan', await llama7bConfig());
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('parameters: 6,738,415,616');
    expect(run.stdout).toMatch(/adapter: VERA r=256 on 64 layers \(target_modules: q_proj, v_proj\)/);
    expect(run.stdout).toContain('trainable params: 278,528');
  });
});

describe('peft plan agrees with a real model', () => {
  const configs: [string, MethodOptions][] = [
    ['VeRA all-linear', { method: 'vera', r: 8, targetModules: 'all-linear' }],
    ['VeRA default targets, layer 1 only', { method: 'vera', r: 4, layersToTransform: [1] }],
    [
      'LoRA regex with the head saved',
      { method: 'lora', r: 4, targetModules: '.*\\.(k|o|down)_proj', modulesToSave: ['lm_head'] },
    ],
    ['LoRA all-linear', { method: 'lora', r: 3, targetModules: 'all-linear' }],
  ];

  it('derives exactly the module paths of the loaded model from its config', async () => {
    for (const tie of [false, true]) {
      const dir = await writeTinyModel(join(tmp.dir, `m${tie}`), { config: { tie_word_embeddings: tie } });
      const { model, config } = await loadPretrainedFolder(dir);
      const real = [...model.namedModules()]
        .filter(([p]) => p !== '')
        .map(([path, m]) => ({ path, linear: isLinear(m) }))
        .sort((a, b) => a.path.localeCompare(b.path));
      expect(moduleCandidates(config).sort((a, b) => a.path.localeCompare(b.path))).toEqual(real);
      model.dispose();
    }
  });

  it.each(configs)(
    '%s: trainable parameters, targets and adapter bytes match the bridge on the model',
    async (_n, options) => {
      const dir = await writeTinyModel(join(tmp.dir, 'model'), { config: { attention_bias: true } });
      const adapter = configFromOptions(options);
      const { model, config } = await loadPretrainedFolder(dir);
      const report = planFineTuning(config, { adapter: structuredClone(adapter) as AdapterConfig });
      expect(report.parameters).toBe(countModelParameters(model));
      const peft = getPeftModel(model, adapter);
      try {
        expect(report.trainable_params).toBe(peft.parameterCounts().trainable);
        expect(report.adapter.targeted_layers).toBe(peft.adapterLayers().length);
        expect(report.adapter.target_modules).toEqual(peft.peftConfig.get('default')!.target_modules);
        const state = peft.adapterStateDict();
        expect(report.adapter.adapter_bytes).toBe(
          [...state.values()].reduce((n, t) => n + t.data.byteLength, 0),
        );
      } finally {
        peft.dispose();
      }
    },
  );

  it('estimates the base memory as the loaded model holds it, dense and NF4', async () => {
    const dir = await writeTinyModel(join(tmp.dir, 'model'), {
      config: { hidden_size: 64, intermediate_size: 160 },
    });
    const adapter = configFromOptions({ method: 'vera', r: 4 });
    for (const quantize of ['none', 'nf4'] as const) {
      const { model, config } = await loadPretrainedFolder(dir);
      if (quantize === 'nf4') quantizeModule(model, { quantType: 'nf4', doubleQuant: true });
      let held = 0;
      for (const [, m] of model.namedModules()) {
        if (isLinear(m)) held += m.layer.storageBytes + (m.layer.bias ? m.layer.bias.size * 4 : 0);
        for (const [, v] of m.ownNamedParameters()) held += v.size * 4;
      }
      expect(planFineTuning(config, { adapter, quantize }).training_memory.base).toBe(held);
      model.dispose();
    }
  });

  it('sizes 4-bit weights exactly as `peft quantize` writes them, with and without double quantization', async () => {
    const dir = await writeTinyModel(join(tmp.dir, 'model'), {
      config: { hidden_size: 64, intermediate_size: 160 },
    });
    const { config } = await loadPretrainedFolder(dir).then((p) => {
      p.model.dispose();
      return p;
    });
    for (const doubleQuant of [true, false]) {
      const out = join(tmp.dir, `q${doubleQuant}`);
      expect(
        (await runPeft('quantize', dir, '-o', out, ...(doubleQuant ? [] : ['--no-double-quant']))).code,
      ).toBe(0);
      const file = await openSafetensorsFile(join(out, 'model.safetensors'));
      let written = 0;
      let planned = 0;
      for (const l of checkpointLayout(config).linears.filter((l) => l.path !== 'lm_head')) {
        for (const key of file
          .keys()
          .filter((k) => k.startsWith(`${l.path}.weight`) && !k.includes('quant_state'))) {
          const [a, b] = file.info(key).dataOffsets;
          written += b - a;
        }
        planned += getQuantizer('nf4').storageBytes(l.outFeatures, l.inFeatures, {
          blocksize: 64,
          doubleQuant,
        }).disk;
      }
      await file.close();
      expect(planned).toBe(written);
    }
  });
});

/** An adapter config from method options, as `finetune()` makes one. */
function configFromOptions({ method, ...options }: MethodOptions): AdapterConfig {
  return adapterConfigFromOptions(method ?? 'vera', options);
}

function countModelParameters(model: LlamaForCausalLM): number {
  let n = 0;
  for (const [path, m] of model.namedModules()) {
    if (isLinear(m) && !(model.config.tieWordEmbeddings && path === 'lm_head')) {
      n += m.inFeatures * m.outFeatures + (m.layer.bias ? m.outFeatures : 0);
    }
    for (const [, v] of m.ownNamedParameters()) n += v.size;
  }
  return n;
}

describe('peft plan input', () => {
  it('takes a model folder; rejects a missing path, a config of another family and unmatched targets', async () => {
    const dir = await writeTinyModel(join(tmp.dir, 'model'));
    const ok = await runPeft('plan', dir, '--json');
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout).model).toMatchObject({
      hidden_size: TINY_CONFIG.hidden_size,
      linear_layers: 15,
    });

    const missing = await runPeft('plan', join(tmp.dir, 'nope'));
    expect(missing.code).toBe(3);
    expect(missing.stderr).toMatch(/nope does not exist; give a model folder or its config\.json/);

    const gpt2 = join(tmp.dir, 'gpt2.json');
    await writeFile(gpt2, JSON.stringify({ model_type: 'gpt2', n_embd: 768 }));
    const other = await runPeft('plan', gpt2);
    expect(other.code).toBe(3);
    expect(other.stderr).toContain('gpt2.json');

    const none = await runPeft('plan', dir, '--target-modules', 'qkv_proj');
    expect(none.code).toBe(3);
    expect(none.stderr).toMatch(
      /matched no module of the model\. The modules are:[\s\S]*model\.layers\.1\.mlp\.down_proj/,
    );

    const notLinear = await runPeft('plan', dir, '--target-modules', 'mlp');
    expect(notLinear.code).toBe(3);
    expect(notLinear.stderr).toMatch(/matched "model\.layers\.0\.mlp", a module that is not a linear layer/);

    expect((await runPeft('plan', dir, '--method', 'prefix')).code).toBe(2);
    expect((await runPeft('plan', dir, '--r', '0')).code).toBe(2);
    const help = await runPeft('plan', '--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: peft plan [options] <model>');
  });

  it('reads the adapter from a PEFT adapter_config.json, rank_pattern included', async () => {
    const config = join(tmp.dir, 'adapter_config.json');
    await writeFile(
      config,
      JSON.stringify({
        peft_type: 'LORA',
        r: 64,
        target_modules: ['q_proj', 'down_proj'],
        rank_pattern: { down_proj: 16 },
      }),
    );
    const run = await runPeft('plan', await llama7bConfig(), '--adapter-config', config, '--json');
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout).trainable_params).toBe(32 * (64 * (4096 + 4096) + 16 * (11008 + 4096)));
    const unknown = join(tmp.dir, 'ia3.json');
    await writeFile(unknown, JSON.stringify({ peft_type: 'IA3' }));
    const bad = await runPeft('plan', await llama7bConfig(), '--adapter-config', unknown);
    expect(bad.code).toBe(3);
    expect(bad.stderr).toContain('install @peft/ia3');
  });
});
