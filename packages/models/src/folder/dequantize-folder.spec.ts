import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fromFloat32, type PeftError, toFloat32 } from '@peft/core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  hex,
  modelFolder,
  Q,
  readDict,
  smallCheckpoint,
  tempDir,
  UP,
} from '../test-support/checkpoint-folders.js';
import { int8Codes, registerInt8Test } from '../test-support/int8-test-quantizer.js';
import { useCpuBackend } from '../test-support/tf-cpu.js';
import { dequantizeFolder } from './dequantize-folder.js';
import { quantizeFolder } from './quantize-folder.js';

let unregister: () => void;
beforeAll(async () => {
  await useCpuBackend();
  unregister = registerInt8Test();
});
afterAll(() => unregister());

let tmp: Awaited<ReturnType<typeof tempDir>>;
beforeEach(async () => {
  tmp = await tempDir();
});
afterEach(async () => {
  await tmp.cleanup();
});

/** codes x scale, row by row, in float32: what the format's layer dequantizes to. */
function restored(prefix: string, rows: number, cols: number): Float32Array {
  const { codes, scales } = int8Codes(toFloat32(smallCheckpoint().get(`${prefix}weight`)!), rows, cols, 127);
  return Float32Array.from(codes, (c, i) => Math.fround(c * scales[Math.floor(i / cols)]!));
}

describe('dequantizeFolder through the registered linear formats', () => {
  it('turns each claimed layer into one float weight (config dtype), keeps the bias and the rest as stored, drops quantization_config', async () => {
    const input = await modelFolder(join(tmp.dir, 'model'));
    const quantized = join(tmp.dir, 'quantized');
    await quantizeFolder(input, quantized, { quantize: 'int8-test' });
    const output = join(tmp.dir, 'restored');
    const report = await dequantizeFolder(quantized, output);
    expect(report.dequantized.sort()).toEqual([`${UP}weight`, `${Q}weight`]);

    const original = smallCheckpoint();
    const out = await readDict(join(output, 'model.safetensors'));
    expect([...out.keys()].sort()).toEqual([...original.keys()].sort());
    // The int8 layer records no dtype, so config.json's torch_dtype (float16) is used.
    for (const [prefix, rows] of [
      [Q, 8],
      [UP, 12],
    ] as const) {
      expect(hex(out.get(`${prefix}weight`)!)).toBe(
        hex(fromFloat32(restored(prefix, rows, 16), [rows, 16], 'F16')),
      );
    }
    for (const key of ['model.embed_tokens.weight', `${Q}bias`, 'lm_head.weight', 'model.position_ids'])
      expect(hex(out.get(key)!)).toBe(hex(original.get(key)!));
    const config = await readFile(join(output, 'config.json'), 'utf8');
    expect(config).not.toContain('quantization_config');
    expect(config).toContain('"rope_theta": 10000.0');
  });

  it('dtype sets the restored weights dtype; a bad one fails before anything is written', async () => {
    const input = await modelFolder(join(tmp.dir, 'model'));
    const quantized = join(tmp.dir, 'quantized');
    await quantizeFolder(input, quantized, { quantize: 'int8-test' });
    const output = join(tmp.dir, 'f32');
    await dequantizeFolder(quantized, output, { dtype: 'float32' });
    const w = (await readDict(join(output, 'model.safetensors'))).get(`${UP}weight`)!;
    // float32 from the float16 the layer would be restored to without `dtype`.
    const f16 = toFloat32(fromFloat32(restored(UP, 12, 16), [12, 16], 'F16'));
    expect(hex(w)).toBe(hex(fromFloat32(f16, [12, 16], 'F32')));

    const never = join(tmp.dir, 'never');
    const error = await dequantizeFolder(quantized, never, { dtype: 'int8' as 'float32' }).catch(
      (e: PeftError) => e,
    );
    expect((error as PeftError).code).toBe('CONFIG_INVALID');
    await expect(stat(never)).rejects.toThrow();
  });

  it('a folder with nothing quantized is copied and reports no dequantized weight', async () => {
    const input = await modelFolder(join(tmp.dir, 'model'));
    const output = join(tmp.dir, 'copy');
    const report = await dequantizeFolder(input, output);
    expect(report.dequantized).toEqual([]);
    const out = await readDict(join(output, 'model.safetensors'));
    for (const [key, tensor] of smallCheckpoint()) expect(hex(out.get(key)!)).toBe(hex(tensor));
  });
});
