// `peft quantize`, `peft dequantize` and `peft merge` only parse flags and print: each writes exactly
// what its library call writes, and a quantizer from a plug-in works with no edit to the app.
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setupBackend } from '@peft/backends';
import { dequantizeFolder, quantizeFolder } from '@peft/models/node';
import { mergeAdapter } from '@peft/training/node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { useBackendForTests, writeTinyModel } from '../test-support/model-folder.js';
import { randomizeLoraB } from './test-support/adapter-weights.js';
import { readFileDict, runPeft, tempDir } from './test-support/checkpoints.js';
import { shardedModelFolder } from './test-support/model-folders.js';

let tmp: Awaited<ReturnType<typeof tempDir>>;
beforeEach(async () => {
  tmp = await tempDir();
});
afterEach(async () => {
  await tmp.cleanup();
});

/** Every file under `dir` with its bytes (hex), so "the same" means byte for byte. */
async function contents(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of (await readdir(dir)).sort())
    out[name] = (await readFile(join(dir, name))).toString('hex');
  return out;
}

const PLUGIN = fileURLToPath(new URL('./test-support/int8-plugin.ts', import.meta.url));

describe('the CLI writes what the library call writes', () => {
  it('quantize (registry options from flags) and dequantize, on a sharded folder', async () => {
    const input = join(tmp.dir, 'model');
    await shardedModelFolder(input);
    const cli = join(tmp.dir, 'cli');
    const run = await runPeft(
      'quantize',
      input,
      '-o',
      cli,
      '--quantize',
      'fp4',
      '--blocksize',
      '128',
      '--no-double-quant',
      '--exclude',
      'up_proj',
    );
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toBe(
      `quantized 2 weights (fp4, blocksize 128, double quant off), copied 2 tensors -> ${cli}\n`,
    );
    await setupBackend('cpu');
    const library = join(tmp.dir, 'library');
    const report = await quantizeFolder(input, library, {
      quantize: 'fp4',
      quantizeOptions: { blocksize: 128, doubleQuant: false },
      exclude: 'up_proj',
    });
    expect(report.quantized).toHaveLength(2);
    expect(await contents(library)).toEqual(await contents(cli));
    expect(Object.keys(await contents(cli))).toEqual([
      'config.json',
      'model-00001-of-00002.safetensors',
      'model-00002-of-00002.safetensors',
      'model.safetensors.index.json',
      'tokenizer.json',
    ]);

    const cliBack = join(tmp.dir, 'cli-back');
    expect((await runPeft('dequantize', cli, '-o', cliBack, '--dtype', 'bfloat16')).code).toBe(0);
    const libraryBack = join(tmp.dir, 'library-back');
    await dequantizeFolder(library, libraryBack, { dtype: 'bfloat16' });
    expect(await contents(libraryBack)).toEqual(await contents(cliBack));
  });

  it('merge, and --overwrite replaces an output holding other files', async () => {
    await useBackendForTests();
    const model = await writeTinyModel(join(tmp.dir, 'model'));
    const adapter = join(tmp.dir, 'adapter');
    const init = await runPeft(
      'init-adapter',
      model,
      '-o',
      adapter,
      '--method',
      'lora',
      '--r',
      '4',
      '--target-modules',
      'q_proj,down_proj',
      '--backend',
      'wasm',
    );
    expect(init.code, init.stderr).toBe(0);
    await randomizeLoraB(join(adapter, 'adapter_model.safetensors'));

    const cli = join(tmp.dir, 'cli');
    const run = await runPeft('merge', model, '--adapter', adapter, '-o', cli, '--backend', 'wasm');
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toBe(`merged 4 layers (4 dense) -> ${cli}\n`);
    const library = join(tmp.dir, 'library');
    const report = await mergeAdapter({ model, adapter, output: library });
    expect(report.schemes).toEqual({ dense: 4 });
    expect(await contents(library)).toEqual(await contents(cli));

    await writeFile(join(cli, 'notes.txt'), 'mine');
    const refused = await runPeft('merge', model, '--adapter', adapter, '-o', cli, '--backend', 'wasm');
    expect(refused.code).toBe(3);
    expect(refused.stderr).toContain(`output folder ${cli} already holds notes.txt`);
    expect(refused.stderr).toContain('--overwrite');
    expect(await readFile(join(cli, 'notes.txt'), 'utf8')).toBe('mine');
    const replaced = await runPeft(
      'merge',
      model,
      '--adapter',
      adapter,
      '-o',
      cli,
      '--backend',
      'wasm',
      '--overwrite',
    );
    expect(replaced.code, replaced.stderr).toBe(0);
    expect(await contents(cli)).toEqual(await contents(library));
  });
});

describe('peft quantize takes its quantizers from the registry', () => {
  it('lists the registered quantizers and their options in --help; --quant-type is still accepted', async () => {
    const help = await runPeft('quantize', '--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/--quantize <name>.*nf4 \(bitsandbytes 4-bit NormalFloat/s);
    expect(help.stdout).toContain('choices: "nf4", "fp4"');
    expect(help.stdout).toContain('--blocksize <value>');
    expect(help.stdout).toContain('--no-double-quant');

    const input = join(tmp.dir, 'model');
    await shardedModelFolder(input);
    const viaOldName = join(tmp.dir, 'old');
    const old = await runPeft('quantize', input, '-o', viaOldName, '--quant-type', 'fp4');
    expect(old.code, old.stderr).toBe(0);
    expect(old.stdout).toContain('(fp4, blocksize 64, double quant on)');
    const viaNewName = join(tmp.dir, 'new');
    expect((await runPeft('quantize', input, '-o', viaNewName, '--quantize', 'fp4')).code).toBe(0);
    expect(await contents(viaNewName)).toEqual(await contents(viaOldName));

    const both = await runPeft(
      'quantize',
      input,
      '-o',
      join(tmp.dir, 'x'),
      '--quantize',
      'fp4',
      '--quant-type',
      'nf4',
    );
    expect(both.code).toBe(2);
    await expect(stat(join(tmp.dir, 'x'))).rejects.toThrow();
  });

  it('a quantizer from a plug-in quantizes and dequantizes with no edit to the app', async () => {
    const input = join(tmp.dir, 'model');
    const original = await shardedModelFolder(input);
    const help = await runPeft('--plugin', PLUGIN, 'quantize', '--help');
    expect(help.stdout).toContain('int8-rows (per-row absmax int8 (test plug-in))');
    expect(help.stdout).toContain('--levels <value>');

    const out = join(tmp.dir, 'int8');
    const run = await runPeft(
      '--plugin',
      PLUGIN,
      'quantize',
      input,
      '-o',
      out,
      '--quantize',
      'int8-rows',
      '--levels',
      '7',
    );
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toBe(`quantized 3 weights (int8-rows, levels 7), copied 1 tensors -> ${out}\n`);
    const config = JSON.parse(await readFile(join(out, 'config.json'), 'utf8'));
    expect(config.quantization_config).toEqual({ quant_method: 'int8-rows', levels: 7 });
    const shard = await readFileDict(join(out, 'model-00001-of-00002.safetensors'));
    expect(shard.get('model.layers.0.self_attn.q_proj.weight')).toMatchObject({
      dtype: 'I8',
      shape: [8, 64],
    });
    // --levels belongs to int8-rows only.
    expect(
      (await runPeft('--plugin', PLUGIN, 'quantize', input, '-o', join(tmp.dir, 'y'), '--levels', '7')).code,
    ).toBe(2);

    const back = join(tmp.dir, 'back');
    const restored = await runPeft('--plugin', PLUGIN, 'dequantize', out, '-o', back);
    expect(restored.code, restored.stderr).toBe(0);
    expect(restored.stdout).toBe(`dequantized 3 weights -> ${back}\n`);
    const weights = await readFileDict(join(back, 'model-00001-of-00002.safetensors'));
    const w = weights.get('model.layers.0.self_attn.q_proj.weight')!;
    // Restored in config.json's torch_dtype (float16), within one int8 step (absmax / 7) of the original.
    expect(w).toMatchObject({ dtype: 'F16', shape: [8, 64] });
    const { toFloat32 } = await import('@peft/core');
    const before = toFloat32(original.get('model.layers.0.self_attn.q_proj.weight')!);
    const after = toFloat32(w);
    for (let r = 0; r < 8; r++) {
      const row = before.subarray(r * 64, (r + 1) * 64);
      const step = row.reduce((m, v) => Math.max(m, Math.abs(v)), 0) / 7;
      for (let c = 0; c < 64; c++)
        expect(Math.abs(after[r * 64 + c]! - row[c]!)).toBeLessThanOrEqual(step / 2 + 1e-3);
    }
  });
});
