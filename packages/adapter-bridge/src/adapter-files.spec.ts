import { type HostTensor, parseSafetensors, SafetensorsError, serializeSafetensors } from '@peft/core';
import * as tf from '@tensorflow/tfjs-core';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type AdapterFiles,
  loadAdapterFiles,
  peftModelFromFiles,
  readAdapterConfig,
  saveAdapterFiles,
} from './adapter-files.js';
import { AdapterNameError } from './adapter-name.js';
import { AdapterFileError, AdapterMismatchError } from './errors.js';
import { getPeftModel, type PeftModel } from './peft-model.js';
import { registerPeftMethod } from './registry.js';
import { useCpuBackend } from './test-support/tf-cpu.js';
import { type ToyLayer, toyConfig, toyMethod } from './test-support/toy-method.js';
import { TinyLlamaForCausalLM } from './testing/index.js';
import { type PeftWarning, setWarningHandler } from './warnings.js';

beforeAll(async () => {
  await useCpuBackend();
  registerPeftMethod(toyMethod);
});

const warnings: PeftWarning[] = [];
setWarningHandler((w) => warnings.push(w));
afterEach(() => {
  warnings.length = 0;
});

const text = (bytes: Uint8Array | undefined) => new TextDecoder().decode(bytes);

function perturb(peft: PeftModel, adapter = 'default'): void {
  for (const [, layer] of peft.adapterLayers()) {
    const toy = layer.adapter(adapter) as ToyLayer | undefined;
    if (!toy) continue;
    const next = tf.tidy(() => tf.add(toy.u, tf.randomNormal(toy.u.shape, 0, 0.3, 'float32', 7)));
    toy.u.assign(next);
    next.dispose();
  }
}

function outputs(model: TinyLlamaForCausalLM): number[] {
  const x = tf.tensor2d(
    Array.from({ length: 32 }, (_, i) => Math.cos(i)),
    [2, 16],
  );
  const y = model.forward(x);
  const v = Array.from(y.dataSync());
  tf.dispose([x, y]);
  return v;
}

describe('saving adapter folders as PEFT does', () => {
  it('writes the default adapter at the root and others in a subfolder, with format "pt" metadata', () => {
    const model = new TinyLlamaForCausalLM({ layers: 1 });
    const peft = getPeftModel(model, toyConfig({ target_modules: ['q_proj'], task_type: 'CAUSAL_LM' }));
    peft.addAdapter('second', toyConfig({ target_modules: ['v_proj'], scale: 0.5 }));
    const files = saveAdapterFiles(peft);
    expect([...files.keys()].sort()).toEqual([
      'adapter_config.json',
      'adapter_model.safetensors',
      'second/adapter_config.json',
      'second/adapter_model.safetensors',
    ]);
    const st = parseSafetensors(files.get('second/adapter_model.safetensors')!);
    expect(Object.fromEntries(st.metadata!)).toEqual({ format: 'pt' });
    expect(st.keys().sort()).toEqual([
      'base_model.model.model.layers.0.self_attn.v_proj.toy_u',
      'base_model.model.model.layers.0.self_attn.v_proj.toy_v.weight',
      'base_model.toy_scale',
    ]);
    expect(st.info('base_model.model.model.layers.0.self_attn.v_proj.toy_u')).toMatchObject({
      dtype: 'F32',
      shape: [8],
    });

    const config = text(files.get('adapter_config.json'));
    // Python json.dumps(indent=2, sort_keys=True): sorted keys, Python floats, inference_mode true,
    // no auto_mapping when task_type is set.
    expect(config).toBe(
      [
        '{',
        '  "auto_mapping": null,',
        '  "base_model_name_or_path": "peft-js/tiny-llama-test",',
        '  "bias": "none",',
        '  "dropout": 0.0,',
        '  "fan_in_fan_out": false,',
        '  "inference_mode": true,',
        '  "layers_pattern": null,',
        '  "layers_to_transform": null,',
        '  "modules_to_save": null,',
        '  "peft_type": "TOY",',
        '  "peft_version": null,',
        '  "revision": null,',
        '  "scale": 1.0,',
        '  "target_modules": [',
        '    "q_proj"',
        '  ],',
        '  "task_type": "CAUSAL_LM"',
        '}',
      ].join('\n'),
    );
    expect(JSON.parse(text(files.get('second/adapter_config.json')))['auto_mapping']).toEqual({
      base_model_class: 'LlamaForCausalLM',
      parent_library: 'transformers.models.llama.modeling_llama',
    });
    peft.dispose();
  });

  it('round-trips: a fresh model loaded from the files gives the same outputs and tensors', async () => {
    const model = new TinyLlamaForCausalLM({ layers: 2 });
    const peft = getPeftModel(
      model,
      toyConfig({ target_modules: 'all-linear', modules_to_save: ['lm_head'] }),
    );
    perturb(peft);
    const expected = outputs(model);
    const files = saveAdapterFiles(peft);

    const fresh = new TinyLlamaForCausalLM({ layers: 2 });
    const loaded = await peftModelFromFiles(fresh, files);
    expect(outputs(fresh)).toEqual(expected);
    // Loaded for inference by default, as in PEFT: nothing trainable.
    expect(loaded.trainableVariables()).toHaveLength(0);
    const saved = loaded.adapterStateDict();
    const original = peft.adapterStateDict();
    expect([...saved.keys()]).toEqual([...original.keys()]);
    for (const [k, v] of original) expect(saved.get(k)!.data).toEqual(v.data);

    const trainable = await peftModelFromFiles(new TinyLlamaForCausalLM({ layers: 2 }), files, {
      isTrainable: true,
    });
    expect(trainable.trainableVariables().length).toBeGreaterThan(0);
    for (const p of [peft, loaded, trainable]) p.dispose();
  });

  it('loads a second adapter from a subfolder under another name', async () => {
    const model = new TinyLlamaForCausalLM({ layers: 1 });
    const peft = getPeftModel(model, toyConfig({ target_modules: ['q_proj'] }));
    peft.addAdapter('extra', toyConfig({ target_modules: ['k_proj'] }));
    perturb(peft, 'extra');
    peft.setAdapter('extra');
    const expected = outputs(model);
    const files = saveAdapterFiles(peft, { selectedAdapters: ['extra'] });
    expect([...files.keys()].sort()).toEqual([
      'extra/adapter_config.json',
      'extra/adapter_model.safetensors',
    ]);

    const other = getPeftModel(
      new TinyLlamaForCausalLM({ layers: 1 }),
      toyConfig({ target_modules: ['q_proj'] }),
    );
    await loadAdapterFiles(other, files, { subfolder: 'extra', adapterName: 'renamed' });
    other.setAdapter('renamed');
    expect(outputs(other.model as TinyLlamaForCausalLM)).toEqual(expected);
    await expect(loadAdapterFiles(other, files, { subfolder: '../extra' })).rejects.toThrow(AdapterNameError);
    peft.dispose();
    other.dispose();
  });
});

describe('loading bad adapter folders', () => {
  function savedFiles(): AdapterFiles {
    const model = new TinyLlamaForCausalLM({ layers: 1 });
    const peft = getPeftModel(model, toyConfig({ target_modules: ['q_proj', 'k_proj'] }));
    const files = saveAdapterFiles(peft);
    peft.dispose();
    return files;
  }

  async function tamper(files: AdapterFiles, edit: (dict: Map<string, HostTensor>) => void) {
    const st = parseSafetensors(files.get('adapter_model.safetensors')!);
    const dict = await st.readAll();
    edit(dict);
    const out = new Map(files);
    out.set('adapter_model.safetensors', serializeSafetensors(dict, { format: 'pt' }));
    return out;
  }

  it('reports every missing, unexpected and mis-shaped tensor at once and leaves the model unchanged', async () => {
    const files = await tamper(savedFiles(), (dict) => {
      const u = dict.get('base_model.model.model.layers.0.self_attn.q_proj.toy_u')!;
      dict.delete('base_model.model.model.layers.0.self_attn.q_proj.toy_u');
      dict.set('base_model.model.model.layers.0.self_attn.k_proj.toy_u', u); // 16 values where 8 belong
      dict.set('base_model.model.some.other.tensor', u);
    });
    const model = new TinyLlamaForCausalLM({ layers: 1 });
    const before = [...model.namedModules()].map(([p]) => p);
    const error = await peftModelFromFiles(model, files).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AdapterMismatchError);
    const problems = (error as AdapterMismatchError).problems;
    expect(problems).toHaveLength(3);
    expect(problems.join('\n')).toMatch(
      /missing tensor "base_model\.model\.model\.layers\.0\.self_attn\.q_proj\.toy_u" \(expected shape \[16\]\)/,
    );
    expect(problems.join('\n')).toMatch(
      /"base_model\.model\.model\.layers\.0\.self_attn\.k_proj\.toy_u" has shape \[16\], the model expects \[8\]/,
    );
    expect(problems.join('\n')).toMatch(/unexpected tensor "base_model\.model\.some\.other\.tensor"/);
    expect([...model.namedModules()].map(([p]) => p)).toEqual(before);
    model.dispose();
  });

  it('refuses NaN/Inf values and integer tensors, naming them', async () => {
    const files = await tamper(savedFiles(), (dict) => {
      const key = 'base_model.model.model.layers.0.self_attn.q_proj.toy_u';
      const t = dict.get(key)!;
      const data = new Uint8Array(t.data);
      new DataView(data.buffer).setFloat32(4 * 3, Number.NaN, true);
      dict.set(key, { ...t, data });
      dict.set('base_model.toy_scale', { dtype: 'I32', shape: [], data: new Uint8Array(4) });
    });
    const error = await peftModelFromFiles(new TinyLlamaForCausalLM({ layers: 1 }), files).catch(
      (e: unknown) => e,
    );
    expect((error as AdapterMismatchError).problems).toEqual([
      'tensor "base_model.model.model.layers.0.self_attn.q_proj.toy_u" has a non-finite value NaN at flat index 3',
      'tensor "base_model.toy_scale" has dtype I32, expected a floating dtype',
    ]);
  });

  it('names the package to install for an unknown peft_type', async () => {
    const files = savedFiles();
    const config = JSON.parse(text(files.get('adapter_config.json')));
    files.set(
      'adapter_config.json',
      new TextEncoder().encode(JSON.stringify({ ...config, peft_type: 'BOFT' })),
    );
    await expect(peftModelFromFiles(new TinyLlamaForCausalLM(), files)).rejects.toThrow(
      /install @peft\/boft/,
    );
    files.set(
      'adapter_config.json',
      new TextEncoder().encode(JSON.stringify({ ...config, peft_type: 'VERA' })),
    );
    await expect(peftModelFromFiles(new TinyLlamaForCausalLM(), files)).rejects.toThrow(
      /install @peft\/vera/,
    );
  });

  it('gives typed errors for missing files, bad JSON and truncated safetensors', async () => {
    const files = savedFiles();
    const noWeights = new Map(files);
    noWeights.delete('adapter_model.safetensors');
    await expect(peftModelFromFiles(new TinyLlamaForCausalLM(), noWeights)).rejects.toThrow(AdapterFileError);
    await expect(peftModelFromFiles(new TinyLlamaForCausalLM(), noWeights)).rejects.toThrow(
      /adapter_model\.safetensors: missing/,
    );
    const badJson = new Map(files);
    badJson.set('adapter_config.json', new TextEncoder().encode('{"peft_type": "TOY",'));
    expect(() => readAdapterConfig(badJson)).toThrow(/adapter_config\.json: is not valid JSON/);
    const truncated = new Map(files);
    truncated.set('adapter_model.safetensors', files.get('adapter_model.safetensors')!.subarray(0, 40));
    const model = new TinyLlamaForCausalLM({ layers: 1 });
    const before = [...model.namedModules()].map(([p]) => p);
    await expect(peftModelFromFiles(model, truncated)).rejects.toThrow(SafetensorsError);
    expect([...model.namedModules()].map(([p]) => p)).toEqual(before);
    model.dispose();
  });

  it('warns about and ignores unknown config fields written by a newer PEFT', () => {
    const files = savedFiles();
    const config = JSON.parse(text(files.get('adapter_config.json')));
    files.set(
      'adapter_config.json',
      new TextEncoder().encode(JSON.stringify({ ...config, shiny_new_field: 1 })),
    );
    const parsed = readAdapterConfig(files);
    expect(parsed).not.toHaveProperty('shiny_new_field');
    expect(warnings.map((w) => w.message).join()).toMatch(/unknown field "shiny_new_field"/);
  });

  it('accepts the pre-0.15 "modules_to_save" key spelling', async () => {
    const model = new TinyLlamaForCausalLM({ layers: 1 });
    const peft = getPeftModel(model, toyConfig({ target_modules: ['q_proj'], modules_to_save: ['lm_head'] }));
    const files = await tamper(saveAdapterFiles(peft), (dict) => {
      const w = dict.get('base_model.model.lm_head.weight')!;
      dict.delete('base_model.model.lm_head.weight');
      dict.set('base_model.model.lm_head.modules_to_save.weight', w);
    });
    const loaded = await peftModelFromFiles(new TinyLlamaForCausalLM({ layers: 1 }), files);
    expect(outputs(loaded.model as TinyLlamaForCausalLM)).toEqual(outputs(model));
    peft.dispose();
    loaded.dispose();
  });
});
