import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fromFloat32, toFloat32 } from '@peft/core';
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

async function quantizedFile(): Promise<{ path: string; bias: Float32Array }> {
  const golden = await goldenFp16Dq();
  const input = join(tmp.dir, 'in.safetensors');
  const bias = values(6, 2);
  await writeFileDict(
    input,
    new Map([
      [`${Q}weight`, f16(f32FromB64(golden.input.f32_le_b64), [6, 64])],
      [`${Q}bias`, f16(bias, [6])],
      ['model.norm.weight', fromFloat32(values(64, 3), [64])],
    ]),
  );
  const path = join(tmp.dir, 'q.safetensors');
  expect((await runPeft('quantize', input, '-o', path)).code).toBe(0);
  return { path, bias };
}

describe('peft dequantize', () => {
  it('restores plain weights equal to bitsandbytes dequantize_4bit, in the recorded dtype', async () => {
    const { path } = await quantizedFile();
    const output = join(tmp.dir, 'deq.safetensors');
    const run = await runPeft('dequantize', path, '-o', output);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/dequantized 1 weights/);

    const out = await readFileDict(output);
    expect([...out.keys()].sort()).toEqual([`${Q}bias`, `${Q}weight`, 'model.norm.weight']);
    const w = out.get(`${Q}weight`)!;
    expect(w).toMatchObject({ dtype: 'F16', shape: [6, 64] });
    const expected = f32FromB64((await goldenFp16Dq()).expected.dequantized_f32_b64);
    const got = toFloat32(w);
    expect(Array.from(got).every((v, i) => v === expected[i])).toBe(true);
  });

  it('--dtype float32 writes F32 weights with the same values', async () => {
    const { path } = await quantizedFile();
    const output = join(tmp.dir, 'deq32.safetensors');
    expect((await runPeft('dequantize', path, '-o', output, '--dtype', 'float32')).code).toBe(0);
    const w = (await readFileDict(output)).get(`${Q}weight`)!;
    expect(w.dtype).toBe('F32');
    const expected = f32FromB64((await goldenFp16Dq()).expected.dequantized_f32_b64);
    expect(Array.from(toFloat32(w)).every((v, i) => v === expected[i])).toBe(true);
    expect((await runPeft('dequantize', path, '-o', output, '--dtype', 'int8')).code).toBe(2);
  });

  it('removes quantization_config from a model folder and keeps the rest of config.json', async () => {
    const { path } = await quantizedFile();
    const dir = join(tmp.dir, 'model');
    await mkdir(dir);
    await writeFile(join(dir, 'model.safetensors'), await readFile(path));
    await writeFile(
      join(dir, 'config.json'),
      '{"rms_norm_eps": 1e-06, "quantization_config": {"quant_method": "bitsandbytes", "load_in_4bit": true}}',
    );
    const out = join(tmp.dir, 'restored');
    expect((await runPeft('dequantize', dir, '-o', out)).code).toBe(0);
    const config = await readFile(join(out, 'config.json'), 'utf8');
    expect(config).not.toContain('quantization_config');
    expect(config).toContain('"rms_norm_eps": 1e-06');
    expect((await readFileDict(join(out, 'model.safetensors'))).get(`${Q}weight`)!.dtype).toBe('F16');
  });

  it('fails with a typed error naming the tensor when a quant state is broken', async () => {
    const { path } = await quantizedFile();
    const dict = await readFileDict(path);
    dict.delete(`${Q}weight.quant_map`);
    const broken = join(tmp.dir, 'broken.safetensors');
    await writeFileDict(broken, dict);
    const run = await runPeft('dequantize', broken, '-o', join(tmp.dir, 'never.safetensors'));
    expect(run.code).toBe(3);
    expect(run.stderr).toContain(`${Q}weight.quant_map`);
  });
});
