import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadLinear, type PeftError, toFloat32 } from '@peft/core';
import { openCheckpoint } from '@peft/core/node';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  contents,
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

async function failure(promise: Promise<unknown>): Promise<PeftError> {
  return promise.then(
    () => {
      throw new Error('expected a failure');
    },
    (error: PeftError) => error,
  );
}

describe('quantizeFolder with a quantizer known only by its registered name', () => {
  it('quantizes the linear weights as the quantizer does, copies the rest byte for byte and records quantization_config', async () => {
    const input = await modelFolder(join(tmp.dir, 'model'));
    const output = join(tmp.dir, 'quantized');
    const seen: number[] = [];
    const report = await quantizeFolder(input, output, {
      quantize: 'int8-test',
      quantizeOptions: { levels: 7 },
      onProgress: (done, total) => seen.push(done, total),
    });
    expect(report.quantize).toBe('int8-test');
    expect(report.quantizeOptions).toEqual({ levels: 7 });
    expect(report.quantized.sort()).toEqual([`${UP}weight`, `${Q}weight`]);
    expect(report.copied.sort()).toEqual([
      'lm_head.weight',
      'model.embed_tokens.weight',
      'model.layers.0.input_layernorm.weight',
      `${Q}bias`,
      'model.position_ids',
    ]);
    expect(seen.slice(-2)).toEqual([7, 7]);
    expect((await readdir(output)).sort()).toEqual(['config.json', 'model.safetensors', 'tokenizer.json']);
    expect(report.written.sort()).toEqual(
      ['config.json', 'model.safetensors', 'tokenizer.json'].map((f) => join(output, f)),
    );

    const original = smallCheckpoint();
    const out = await readDict(join(output, 'model.safetensors'));
    for (const key of report.copied) expect(hex(out.get(key)!)).toBe(hex(original.get(key)!));
    for (const [prefix, [rows, cols]] of [
      [Q, [8, 16]],
      [UP, [12, 16]],
    ] as const) {
      const reference = int8Codes(toFloat32(original.get(`${prefix}weight`)!), rows, cols, 7);
      const codes = out.get(`${prefix}weight`)!;
      expect(codes).toMatchObject({ dtype: 'I8', shape: [rows, cols] });
      expect(Array.from(new Int8Array(codes.data.slice().buffer))).toEqual(Array.from(reference.codes));
      expect(Array.from(toFloat32(out.get(`${prefix}weight.int8_scale`)!))).toEqual(
        Array.from(reference.scales),
      );
    }

    const config = await readFile(join(output, 'config.json'), 'utf8');
    expect(config).toContain('"rms_norm_eps": 1e-05');
    expect(config).toContain('"rope_theta": 10000.0');
    expect(config).toContain('"threshold": 6.0');
    expect(JSON.parse(config).quantization_config).toEqual({
      quant_method: 'int8-test',
      levels: 7,
      threshold: 6,
      modules_to_not_convert: null,
      dtype: 'float16',
    });

    // The folder loads back through the registered format.
    const checkpoint = await openCheckpoint(output);
    try {
      const layer = await loadLinear(checkpoint, Q);
      expect([layer.scheme, layer.outFeatures, layer.inFeatures]).toEqual(['int8-test', 8, 16]);
      layer.dispose();
    } finally {
      await checkpoint.close();
    }
  });

  it('include, exclude (RegExp or string) pick the weights, and weights left out are named in the config', async () => {
    const input = await modelFolder(join(tmp.dir, 'model'));
    const output = join(tmp.dir, 'partial');
    const report = await quantizeFolder(input, output, {
      quantize: 'int8-test',
      include: 'embed|proj',
      exclude: /up_proj/,
    });
    expect(report.quantized.sort()).toEqual(['model.embed_tokens.weight', `${Q}weight`]);
    const config = JSON.parse(await readFile(join(output, 'config.json'), 'utf8'));
    expect(config.quantization_config.modules_to_not_convert).toEqual([
      'model.layers.0.mlp.up_proj',
      'lm_head',
    ]);
    expect(config.quantization_config.levels).toBe(127);
  });

  it('an unknown quantizer, a bad option or a bad regex fails before anything is written', async () => {
    const input = await modelFolder(join(tmp.dir, 'model'));
    const output = join(tmp.dir, 'never');
    const unknown = await failure(quantizeFolder(input, output, { quantize: 'int3' }));
    expect(unknown.code).toBe('REGISTRY');
    expect(unknown.message).toContain('int8-test');
    const badOption = await failure(
      quantizeFolder(input, output, { quantize: 'int8-test', quantizeOptions: { levels: 8 } }),
    );
    expect(badOption.code).toBe('CONFIG_INVALID');
    expect(badOption.message).toContain('levels');
    const unknownOption = await failure(
      quantizeFolder(input, output, { quantize: 'int8-test', quantizeOptions: { blocksize: 64 } }),
    );
    expect(unknownOption.code).toBe('CONFIG_INVALID');
    const badRegex = await failure(quantizeFolder(input, output, { quantize: 'int8-test', include: '(' }));
    expect(badRegex.code).toBe('CONFIG_INVALID');
    expect(badRegex.message).toContain('include "("');
    await expect(stat(output)).rejects.toThrow();
  });

  it('an output folder holding files that are not a model is refused unless overwrite; one that is the input always', async () => {
    const input = await modelFolder(join(tmp.dir, 'model'));
    const output = await modelFolder(join(tmp.dir, 'out'));
    await writeFile(join(output, 'notes.txt'), 'mine');
    const before = await contents(output);
    const refused = await failure(quantizeFolder(input, output, { quantize: 'int8-test' }));
    expect(refused.code).toBe('OUTPUT_EXISTS');
    expect(refused.message).toContain('notes.txt');
    expect(await contents(output)).toEqual(before);

    await quantizeFolder(input, output, { quantize: 'int8-test', overwrite: true });
    expect((await readdir(output)).sort()).toEqual(['config.json', 'model.safetensors', 'tokenizer.json']);

    const inputBefore = await contents(input);
    const self = await failure(quantizeFolder(input, input, { quantize: 'int8-test', overwrite: true }));
    expect(self.code).toBe('OUTPUT_OVERLAPS_INPUT');
    expect(await contents(input)).toEqual(inputBefore);
  });

  it('a single .safetensors file gives a single file', async () => {
    const input = join(await modelFolder(join(tmp.dir, 'model')), 'model.safetensors');
    const output = join(tmp.dir, 'q.safetensors');
    const report = await quantizeFolder(input, output, { quantize: 'int8-test' });
    expect(report.written).toEqual([output]);
    expect((await readDict(output)).get(`${Q}weight.int8_scale`)?.shape).toEqual([8]);
  });
});
