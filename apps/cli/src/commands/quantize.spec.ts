import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setupBackend } from '@peft/backends';
import { fromFloat32, hostTensor, loadLinear, type StateDict } from '@peft/core';
import { openCheckpoint } from '@peft/core/node';
import { parseBnb4QuantizationConfig, readBnb4Tensor } from '@peft/quant-bnb4';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  f16,
  f32FromB64,
  goldenFp16Dq,
  readFileDict,
  runPeft,
  tempDir,
  values,
  writeFileDict,
} from './test-support/checkpoints.js';

let tmp: Awaited<ReturnType<typeof tempDir>>;
beforeEach(async () => {
  tmp = await tempDir();
});
afterEach(async () => {
  await tmp.cleanup();
});

const Q = 'model.layers.0.self_attn.q_proj.';

/** A tiny model: the golden fp16 [6, 64] weight as q_proj, plus tensors that must be copied unchanged. */
async function tinyModel(): Promise<StateDict> {
  const golden = await goldenFp16Dq();
  return new Map([
    ['model.embed_tokens.weight', f16(values(10 * 64, 1), [10, 64])],
    [`${Q}weight`, f16(f32FromB64(golden.input.f32_le_b64), [6, 64])],
    [`${Q}bias`, f16(values(6, 2), [6])],
    ['model.layers.0.input_layernorm.weight', fromFloat32(values(64, 3), [64])],
    ['model.layers.0.mlp.up_proj.weight', fromFloat32(values(7 * 9, 4), [7, 9], 'BF16')],
    ['lm_head.weight', f16(values(10 * 64, 5), [10, 64])],
    ['model.position_ids', hostTensor('I64', [2], new Uint8Array(16))],
  ]);
}

describe('peft quantize <file>', () => {
  it('writes bitsandbytes keys byte-identical to the golden case and copies everything else', async () => {
    const input = join(tmp.dir, 'in.safetensors');
    const output = join(tmp.dir, 'out.safetensors');
    const original = await tinyModel();
    await writeFileDict(input, original);

    const run = await runPeft('quantize', input, '-o', output);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/quantized 2 weights \(nf4, blocksize 64, double quant on\)/);

    const out = await readFileDict(output);
    const golden = await goldenFp16Dq();
    const e = golden.expected;
    const t = (k: string) => out.get(Q + k)!;
    expect(t('weight')).toMatchObject({ dtype: 'U8', shape: [192, 1] });
    expect(Buffer.from(t('weight').data).toString('base64')).toBe(e.packed_b64);
    expect(Array.from(t('weight.absmax').data)).toEqual(e.absmax_u8);
    expect(Array.from(new Float32Array(t('weight.nested_absmax').data.slice().buffer))).toEqual(
      e.nested_absmax,
    );
    expect(new TextDecoder().decode(t('weight.quant_state.bitsandbytes__nf4').data)).toBe(e.quant_state_json);
    expect(t('weight.nested_quant_map').shape).toEqual([256]);
    expect(t('weight.quant_map').shape).toEqual([16]);

    // Not quantized: embeddings, lm_head, 1-D and integer tensors, the bias.
    for (const key of [
      'model.embed_tokens.weight',
      'lm_head.weight',
      'model.layers.0.input_layernorm.weight',
      'model.position_ids',
      `${Q}bias`,
    ]) {
      expect({
        key,
        bytes: Buffer.from(out.get(key)!.data).toString('hex'),
        dtype: out.get(key)!.dtype,
      }).toEqual({
        key,
        bytes: Buffer.from(original.get(key)!.data).toString('hex'),
        dtype: original.get(key)!.dtype,
      });
    }
    // The odd-sized bf16 weight is quantized too (63 elements -> 32 bytes).
    expect(out.get('model.layers.0.mlp.up_proj.weight')).toMatchObject({ dtype: 'U8', shape: [32, 1] });
    const state = JSON.parse(
      new TextDecoder().decode(
        out.get('model.layers.0.mlp.up_proj.weight.quant_state.bitsandbytes__nf4')!.data,
      ),
    );
    expect(state).toMatchObject({ dtype: 'bfloat16', shape: [7, 9], blocksize: 64 });
  });

  it('honours --quant-type, --blocksize, --no-double-quant, --include and --exclude', async () => {
    const input = join(tmp.dir, 'in.safetensors');
    await writeFileDict(input, await tinyModel());
    const output = join(tmp.dir, 'fp4.safetensors');
    const run = await runPeft(
      'quantize',
      input,
      '-o',
      output,
      '--quant-type',
      'fp4',
      '--blocksize',
      '128',
      '--no-double-quant',
      '--include',
      'embed|up_proj',
      '--exclude',
      'up_proj',
    );
    expect(run.code).toBe(0);
    const out = await readFileDict(output);
    expect(out.get('model.embed_tokens.weight')!.dtype).toBe('U8');
    expect(out.get('model.layers.0.mlp.up_proj.weight')!.dtype).toBe('BF16');
    expect(out.get(`${Q}weight`)!.dtype).toBe('F16');
    const blob = out.get('model.embed_tokens.weight.quant_state.bitsandbytes__fp4')!;
    expect(new TextDecoder().decode(blob.data)).toBe(
      '{"quant_type": "fp4", "blocksize": 128, "dtype": "float16", "shape": [10, 64]}',
    );
    expect(out.get('model.embed_tokens.weight.absmax')).toMatchObject({ dtype: 'F32', shape: [5] });
    expect(out.has('model.embed_tokens.weight.nested_absmax')).toBe(false);
  });

  it('rejects a NaN weight naming the tensor and index, and leaves an existing output untouched', async () => {
    const input = join(tmp.dir, 'in.safetensors');
    const dict = await tinyModel();
    const bad = values(6 * 64, 9);
    bad[70] = Number.NaN;
    dict.set(`${Q}weight`, fromFloat32(bad, [6, 64]));
    await writeFileDict(input, dict);
    const output = join(tmp.dir, 'out.safetensors');
    await writeFile(output, 'previous contents');

    const run = await runPeft('quantize', input, '-o', output);
    expect(run.code).toBe(3);
    expect(run.stderr).toContain(`${Q}weight`);
    expect(run.stderr).toContain('flat index 70');
    expect(await readFile(output, 'utf8')).toBe('previous contents');
  });

  it('reports bad arguments and bad files with the usage and input exit codes', async () => {
    const input = join(tmp.dir, 'in.safetensors');
    await writeFileDict(input, await tinyModel());
    expect((await runPeft('quantize', input, '-o', join(tmp.dir, 'x'), '--blocksize', '48')).code).toBe(2);
    expect((await runPeft('quantize', input, '-o', join(tmp.dir, 'x'), '--quant-type', 'int4')).code).toBe(2);
    expect((await runPeft('quantize', input, '-o', join(tmp.dir, 'x'), '--include', '(')).code).toBe(2);

    const truncated = join(tmp.dir, 'truncated.safetensors');
    await writeFile(truncated, (await readFile(input)).subarray(0, 100));
    const run = await runPeft('quantize', truncated, '-o', join(tmp.dir, 'y.safetensors'));
    expect(run.code).toBe(3);
    expect(run.stderr).toContain('truncated.safetensors');
    await expect(stat(join(tmp.dir, 'y.safetensors'))).rejects.toThrow();

    const same = await runPeft('quantize', input, '-o', input);
    expect(same.code).toBe(3);
    expect(same.stderr).toMatch(/is the input/);
  });
});

describe('peft quantize <model folder>', () => {
  async function shardedFolder(): Promise<string> {
    const dir = join(tmp.dir, 'model');
    const all = await tinyModel();
    const keys = [...all.keys()];
    const shard1 = new Map(keys.slice(0, 3).map((k) => [k, all.get(k)!]));
    const shard2 = new Map(keys.slice(3).map((k) => [k, all.get(k)!]));
    const { mkdir } = await import('node:fs/promises');
    await mkdir(dir);
    await writeFileDict(join(dir, 'model-00001-of-00002.safetensors'), shard1);
    await writeFileDict(join(dir, 'model-00002-of-00002.safetensors'), shard2);
    const weightMap = Object.fromEntries([
      ...[...shard1.keys()].map((k) => [k, 'model-00001-of-00002.safetensors']),
      ...[...shard2.keys()].map((k) => [k, 'model-00002-of-00002.safetensors']),
    ]);
    await writeFile(
      join(dir, 'model.safetensors.index.json'),
      JSON.stringify({ metadata: { total_size: 1 }, weight_map: weightMap }),
    );
    await writeFile(
      join(dir, 'config.json'),
      '{\n  "model_type": "llama",\n  "rms_norm_eps": 1e-05,\n  "rope_theta": 10000.0,\n  "torch_dtype": "float16"\n}\n',
    );
    await writeFile(join(dir, 'tokenizer.json'), '{"version": "1.0"}');
    await writeFile(join(dir, 'generation_config.json'), '{"do_sample": true}');
    await writeFile(join(dir, 'pytorch_model.bin'), 'not copied');
    return dir;
  }

  it('keeps the shard layout, writes a new index, the quantization_config and the tokenizer files', async () => {
    const dir = await shardedFolder();
    const out = join(tmp.dir, 'model-bnb-4bit');
    const run = await runPeft('quantize', dir, '-o', out);
    expect(run.code).toBe(0);

    const config = await readFile(join(out, 'config.json'), 'utf8');
    // Floats stay floats for Python: the original 1e-05 / 10000.0, and transformers' 6.0 threshold.
    expect(config).toContain('"rms_norm_eps": 1e-05');
    expect(config).toContain('"rope_theta": 10000.0');
    expect(config).toContain('"llm_int8_threshold": 6.0');
    expect(JSON.parse(config).quantization_config).toEqual({
      _load_in_4bit: true,
      _load_in_8bit: false,
      bnb_4bit_compute_dtype: 'float16',
      bnb_4bit_quant_storage: 'uint8',
      bnb_4bit_quant_type: 'nf4',
      bnb_4bit_use_double_quant: true,
      llm_int8_enable_fp32_cpu_offload: false,
      llm_int8_has_fp16_weight: false,
      llm_int8_skip_modules: null,
      llm_int8_threshold: 6,
      load_in_4bit: true,
      load_in_8bit: false,
      quant_method: 'bitsandbytes',
    });
    expect(await readFile(join(out, 'tokenizer.json'), 'utf8')).toBe('{"version": "1.0"}');
    expect(await readFile(join(out, 'generation_config.json'), 'utf8')).toBe('{"do_sample": true}');
    await expect(stat(join(out, 'pytorch_model.bin'))).rejects.toThrow();

    const index = JSON.parse(await readFile(join(out, 'model.safetensors.index.json'), 'utf8'));
    expect(index.weight_map[`${Q}weight.quant_state.bitsandbytes__nf4`]).toBe(
      'model-00001-of-00002.safetensors',
    );
    const checkpoint = await openCheckpoint(out);
    try {
      const { tensor, bias } = await readBnb4Tensor(checkpoint, Q);
      expect(tensor.state.shape).toEqual([6, 64]);
      expect(bias?.dtype).toBe('F16');
      expect(index.metadata.total_size).toBe(
        checkpoint
          .keys()
          .reduce((n, k) => n + (checkpoint.info(k).dataOffsets[1] - checkpoint.info(k).dataOffsets[0]), 0),
      );
    } finally {
      await checkpoint.close();
    }
  });

  it('the quantized folder loads every quantized linear as Bnb4Linear through loadLinear', async () => {
    await setupBackend('cpu');
    const dir = await shardedFolder();
    const out = join(tmp.dir, 'loadable');
    expect((await runPeft('quantize', dir, '-o', out)).code).toBe(0);
    const config = JSON.parse(await readFile(join(out, 'config.json'), 'utf8'));
    expect(parseBnb4QuantizationConfig(config.quantization_config)?.quantType).toBe('nf4');
    const checkpoint = await openCheckpoint(out);
    const layers = [];
    try {
      for (const prefix of [Q, 'model.layers.0.mlp.up_proj.', 'lm_head.'])
        layers.push(await loadLinear(checkpoint, prefix));
      expect(layers.map((l) => [l.constructor.name, l.scheme, l.outFeatures, l.inFeatures])).toEqual([
        ['Bnb4Linear', 'bnb4-nf4', 6, 64],
        ['Bnb4Linear', 'bnb4-nf4', 7, 9],
        ['DenseLinear', 'dense', 10, 64],
      ]);
    } finally {
      for (const layer of layers) layer.dispose();
      await checkpoint.close();
    }
  });

  it('lists modules left unquantized by --exclude in llm_int8_skip_modules', async () => {
    const dir = await shardedFolder();
    const out = join(tmp.dir, 'partial');
    expect((await runPeft('quantize', dir, '-o', out, '--exclude', 'up_proj')).code).toBe(0);
    const config = JSON.parse(await readFile(join(out, 'config.json'), 'utf8'));
    expect(config.quantization_config.llm_int8_skip_modules).toEqual([
      'model.embed_tokens',
      'model.layers.0.mlp.up_proj',
      'lm_head',
    ]);
  });
});
