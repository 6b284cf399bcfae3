import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { peftModelFromFolder as loadAdapter } from '@peft/adapter-bridge/node';
import { parseSafetensors, toFloat32 } from '@peft/core';
import { openCheckpoint, openSafetensorsFile } from '@peft/core/node';
import type { LlamaForCausalLM } from '@peft/models';
import { loadPretrainedFolder } from '@peft/models/node';
import { dequantize4bitFloat32, quantize4bit, readBnb4Tensor } from '@peft/quant-bnb4';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { textRows, useBackendForTests, writeJsonl, writeTinyModel } from '../test-support/model-folder.js';
import { runPeft, tempDir } from './test-support/checkpoints.js';

let tmp: Awaited<ReturnType<typeof tempDir>>;
let data: string;
beforeAll(useBackendForTests);
beforeEach(async () => {
  tmp = await tempDir();
  data = await writeJsonl(join(tmp.dir, 'data.jsonl'), textRows());
});
afterEach(async () => {
  await tmp.cleanup();
});

const IDS = [[1, 5, 9, 3, 12, 7, 30, 2]];

function logitsOf(model: LlamaForCausalLM): Float32Array {
  const { logits } = model.forward({ inputIds: IDS });
  const values = logits.dataSync() as Float32Array;
  logits.dispose();
  return values;
}

/** Trains a LoRA adapter for a few steps with a large learning rate, so the merge has something to fold in. */
async function trainLora(modelDir: string, out: string, ...extra: string[]): Promise<string> {
  const run = await runPeft(
    'finetune',
    modelDir,
    '--data',
    data,
    '-o',
    out,
    '--method',
    'lora',
    '--r',
    '4',
    '--lora-alpha',
    '16',
    '--steps',
    '4',
    '--lr',
    '0.05',
    '--backend',
    'wasm',
    ...extra,
  );
  expect(run.code, run.stderr).toBe(0);
  return out;
}

async function tensorBytes(path: string): Promise<Map<string, string>> {
  const file = await openSafetensorsFile(path);
  try {
    const out = new Map<string, string>();
    for (const [k, v] of await file.readAll())
      out.set(k, `${v.dtype}${JSON.stringify(v.shape)}:${Buffer.from(v.data).toString('hex')}`);
    return out;
  } finally {
    await file.close();
  }
}

describe('peft merge', () => {
  it('a dense folder: the merged model computes what base + adapter computes; untouched tensors are copied byte for byte', async () => {
    const modelDir = await writeTinyModel(join(tmp.dir, 'model'), { config: { torch_dtype: 'float16' } });
    const adapter = await trainLora(
      modelDir,
      join(tmp.dir, 'adapter'),
      '--target-modules',
      'q_proj,down_proj',
    );
    const out = join(tmp.dir, 'merged');
    const run = await runPeft('merge', modelDir, '--adapter', adapter, '-o', out, '--backend', 'wasm');
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('merged 4 layers (4 dense)');
    expect(run.stderr).not.toContain('warning');

    const { model } = await loadPretrainedFolder(modelDir);
    const peft = await loadAdapter(model, adapter);
    const adapted = logitsOf(model);
    peft.dispose();
    const merged = await loadPretrainedFolder(out);
    const mergedLogits = logitsOf(merged.model);
    merged.model.dispose();
    let worst = 0;
    for (let i = 0; i < adapted.length; i++)
      worst = Math.max(worst, Math.abs(mergedLogits[i]! - adapted[i]!));
    expect(worst).toBeLessThan(1e-4);

    const before = await tensorBytes(join(modelDir, 'model.safetensors'));
    const after = await tensorBytes(join(out, 'model.safetensors'));
    expect([...after.keys()].sort()).toEqual([...before.keys()].sort());
    const changed = [...before.keys()].filter((k) => before.get(k) !== after.get(k)).sort();
    expect(changed).toEqual([
      'model.layers.0.mlp.down_proj.weight',
      'model.layers.0.self_attn.q_proj.weight',
      'model.layers.1.mlp.down_proj.weight',
      'model.layers.1.self_attn.q_proj.weight',
    ]);
    expect(after.get('model.layers.0.mlp.down_proj.weight')!.startsWith('F32')).toBe(true);
    expect(await readFile(join(out, 'config.json'), 'utf8')).toBe(
      await readFile(join(modelDir, 'config.json'), 'utf8'),
    );
    expect(await readFile(join(out, 'tokenizer.json'), 'utf8')).toBe(
      await readFile(join(modelDir, 'tokenizer.json'), 'utf8'),
    );
  });

  it('a bitsandbytes 4-bit folder stays 4-bit: same keys, same quantization_config, W + ΔW re-quantized (lossy, with a warning)', async () => {
    const dense = await writeTinyModel(join(tmp.dir, 'dense'), {
      config: { hidden_size: 64, intermediate_size: 128 },
    });
    const modelDir = join(tmp.dir, 'model-bnb-4bit');
    expect((await runPeft('quantize', dense, '-o', modelDir)).code).toBe(0);
    const adapter = await trainLora(
      modelDir,
      join(tmp.dir, 'adapter'),
      '--target-modules',
      'v_proj,up_proj',
      '--steps',
      '8',
    );
    const out = join(tmp.dir, 'merged');
    const run = await runPeft('merge', modelDir, '--adapter', adapter, '-o', out, '--backend', 'wasm');
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('merged 4 layers (4 bnb4-nf4)');
    expect(run.stdout).toContain('re-quantized');
    expect(
      run.stderr.match(/warning: merging adapter\(s\) default into a bnb4-nf4 layer re-quantizes/g),
    ).toHaveLength(1);

    const config = JSON.parse(await readFile(join(out, 'config.json'), 'utf8'));
    expect(config.quantization_config).toEqual(
      JSON.parse(await readFile(join(modelDir, 'config.json'), 'utf8')).quantization_config,
    );
    const before = await tensorBytes(join(modelDir, 'model.safetensors'));
    const after = await tensorBytes(join(out, 'model.safetensors'));
    expect([...after.keys()].sort()).toEqual([...before.keys()].sort());

    // Independently: ΔW = (alpha / r) B A from the adapter file, added to the dequantized original and
    // quantized again with bitsandbytes' rules, gives the merged layer's bytes.
    const weights = parseSafetensors(
      new Uint8Array(await readFile(join(adapter, 'adapter_model.safetensors'))),
    );
    const original = await openCheckpoint(modelDir);
    const merged = await openCheckpoint(out);
    let agreeing = 0;
    let total = 0;
    let moved = 0;
    for (const path of ['model.layers.0.self_attn.v_proj', 'model.layers.1.mlp.up_proj']) {
      const a = toFloat32(await weights.get(`base_model.model.${path}.lora_A.weight`));
      const b = toFloat32(await weights.get(`base_model.model.${path}.lora_B.weight`));
      const { tensor } = await readBnb4Tensor(original, `${path}.`);
      const [out_, in_] = tensor.state.shape as [number, number];
      const w = dequantize4bitFloat32(tensor);
      const sum = new Float32Array(w.length);
      for (let o = 0; o < out_; o++) {
        for (let i = 0; i < in_; i++) {
          let d = 0;
          for (let k = 0; k < 4; k++) d += b[o * 4 + k]! * a[k * in_ + i]!;
          sum[o * in_ + i] = w[o * in_ + i]! + Math.fround(Math.fround(d) * 4);
        }
      }
      const expected = quantize4bit(sum, {
        shape: [out_, in_],
        quantType: 'nf4',
        blocksize: 64,
        doubleQuant: true,
      });
      const actual = (await readBnb4Tensor(merged, `${path}.`)).tensor;
      for (let i = 0; i < expected.packed.length; i++) {
        total++;
        if (expected.packed[i] === actual.packed[i]) agreeing++;
        if (tensor.packed[i] !== actual.packed[i]) moved++;
      }
    }
    await original.close();
    await merged.close();
    // Float32 sums in another order can land on the other side of a rounding boundary, rarely.
    expect(agreeing / total).toBeGreaterThan(0.999);
    expect(moved).toBeGreaterThan(0);
  });

  it('unties a tied head when the adapter trained lm_head in full (modules_to_save)', async () => {
    const modelDir = await writeTinyModel(join(tmp.dir, 'model'), { config: { tie_word_embeddings: true } });
    const adapter = await trainLora(modelDir, join(tmp.dir, 'adapter'), '--modules-to-save', 'lm_head');
    const out = join(tmp.dir, 'merged');
    expect(
      (await runPeft('merge', modelDir, '--adapter', adapter, '-o', out, '--backend', 'wasm')).code,
    ).toBe(0);
    const config = JSON.parse(await readFile(join(out, 'config.json'), 'utf8'));
    expect(config.tie_word_embeddings).toBe(false);
    const file = await openSafetensorsFile(join(out, 'model.safetensors'));
    expect(file.keys()).toContain('lm_head.weight');
    await file.close();
    const { model } = await loadPretrainedFolder(modelDir);
    const peft = await loadAdapter(model, adapter);
    const adapted = logitsOf(model);
    peft.dispose();
    const mergedModel = (await loadPretrainedFolder(out)).model;
    const values = logitsOf(mergedModel);
    mergedModel.dispose();
    expect(Math.max(...values.map((v, i) => Math.abs(v - adapted[i]!)))).toBeLessThan(1e-4);
  });

  it('refuses an adapter for another model and an output that is the input, leaving the disk as it was', async () => {
    const modelDir = await writeTinyModel(join(tmp.dir, 'model'));
    const other = await writeTinyModel(join(tmp.dir, 'other'), { config: { intermediate_size: 64 } });
    const adapter = await trainLora(
      other,
      join(tmp.dir, 'adapter'),
      '--target-modules',
      'all-linear',
      '--steps',
      '1',
    );
    const out = join(tmp.dir, 'merged');
    const misfit = await runPeft('merge', modelDir, '--adapter', adapter, '-o', out, '--backend', 'wasm');
    expect(misfit.code).toBe(3);
    expect(misfit.stderr).toContain(`does not fit the model ${modelDir} (the adapter was made for ${other})`);
    expect(misfit.stderr).toMatch(/mlp\.(gate|up)_proj\.lora_B\.weight/);
    await expect(stat(out)).rejects.toThrow();

    const own = await trainLora(modelDir, join(tmp.dir, 'own'), '--steps', '1');
    const before = await readFile(join(modelDir, 'model.safetensors'));
    const self = await runPeft('merge', modelDir, '--adapter', own, '-o', modelDir, '--backend', 'wasm');
    expect(self.code).toBe(3);
    expect(self.stderr).toMatch(/is the input; write to another path/);
    expect(Buffer.compare(await readFile(join(modelDir, 'model.safetensors')), before)).toBe(0);

    // An existing output folder keeps its files when the merge fails.
    const existing = join(tmp.dir, 'existing');
    await runPeft('merge', modelDir, '--adapter', own, '-o', existing, '--backend', 'wasm');
    const firstWrite = await readFile(join(existing, 'model.safetensors'));
    const again = await runPeft('merge', modelDir, '--adapter', adapter, '-o', existing, '--backend', 'wasm');
    expect(again.code).toBe(3);
    expect(Buffer.compare(await readFile(join(existing, 'model.safetensors')), firstWrite)).toBe(0);
    expect((await readdir(existing)).filter((n) => n.startsWith('.'))).toEqual([]);

    expect((await runPeft('merge', modelDir, '-o', out)).code).toBe(2);
    const help = await runPeft('merge', '--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: peft merge [options] <model-dir>');
  });
});
