import { join } from 'node:path';
import { fromFloat32, hostTensor, type StateDict } from '@peft/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { f16, readFileDict, runPeft, tempDir, values, writeFileDict } from './test-support/checkpoints.js';

let tmp: Awaited<ReturnType<typeof tempDir>>;
beforeEach(async () => {
  tmp = await tempDir();
});
afterEach(async () => {
  await tmp.cleanup();
});

const UP = 'model.layers.0.mlp.up_proj.';

async function quantized(extra: string[] = []): Promise<string> {
  const input = join(tmp.dir, 'in.safetensors');
  await writeFileDict(
    input,
    new Map([
      [`${UP}weight`, f16(values(352 * 256, 1), [352, 256])],
      ['model.norm.weight', fromFloat32(values(256, 2), [256])],
    ]),
  );
  const out = join(tmp.dir, 'q.safetensors');
  expect((await runPeft('quantize', input, '-o', out, ...extra)).code).toBe(0);
  return out;
}

describe('peft inspect', () => {
  it('--json lists every tensor with the logical shape, quantization and bits per parameter of 4-bit weights', async () => {
    const path = await quantized();
    const run = await runPeft('inspect', path, '--json');
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout);
    const stored = await readFileDict(path);
    expect(report.tensors.map((t: { name: string }) => t.name).sort()).toEqual([...stored.keys()].sort());
    const weight = report.tensors.find((t: { name: string }) => t.name === `${UP}weight`);
    expect(weight).toMatchObject({ dtype: 'U8', shape: [45056, 1] });
    // 352*256 = 90112 weights: 45056 packed bytes + 1408 absmax codes + 6 nested scales (24 B) + 64 + 1024 B of maps.
    const bits = ((45056 + 1408 + 24 + 64 + 1024) * 8) / 90112;
    expect(weight.bnb4).toEqual({
      logicalShape: [352, 256],
      quantType: 'nf4',
      blocksize: 64,
      doubleQuant: true,
      dtype: 'float16',
      bitsPerParameter: bits,
    });
    expect(report.quantizedWeights).toBe(1);
    expect(report.tensors.find((t: { name: string }) => t.name === 'model.norm.weight').bnb4).toBeUndefined();
  });

  it('prints a table with stored and logical shapes', async () => {
    const path = await quantized(['--quant-type', 'fp4', '--no-double-quant']);
    const run = await runPeft('inspect', path);
    expect(run.code).toBe(0);
    const line = run.stdout.split('\n').find((l) => l.startsWith(`${UP}weight `))!;
    expect(line).toMatch(/U8\s+\[45056, 1\]\s+\[352, 256\]\s+fp4\s+64\s+no\s+4\.50\d/);
    expect(run.stdout).toContain('1 bitsandbytes 4-bit weights');
  });

  it('a file that is not safetensors is a clear error', async () => {
    const path = join(tmp.dir, 'junk.safetensors');
    await (await import('node:fs/promises')).writeFile(path, 'definitely not a safetensors file');
    const run = await runPeft('inspect', path);
    expect(run.code).toBe(3);
    expect(run.stderr).toContain('junk.safetensors');
  });

  it('prints the table of a file with 150,000 tensors (more than a call can take as arguments)', async () => {
    const count = 150_000;
    const dict: StateDict = new Map();
    for (let i = 0; i < count; i++) dict.set(`t.${i}`, hostTensor('U8', [1], new Uint8Array([i & 255])));
    dict.set(`t.${count}.a_longer_name_that_sets_the_column_width`, hostTensor('U8', [1], new Uint8Array(1)));
    const path = join(tmp.dir, 'many.safetensors');
    await writeFileDict(path, dict);
    const run = await runPeft('inspect', path);
    expect(run.code).toBe(0);
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines[0]).toContain(`${count + 1} tensors, 0 bitsandbytes 4-bit weights, ${count + 1} bytes`);
    expect(lines).toHaveLength(2 + count + 1);
    // Every row is padded to the widest name, so the dtype column lines up.
    const column = `t.${count}.a_longer_name_that_sets_the_column_width`.length + 2;
    expect(lines.find((l) => l.startsWith('t.7 '))).toBe(`${'t.7'.padEnd(column)}U8     [1]`);
  });
});
