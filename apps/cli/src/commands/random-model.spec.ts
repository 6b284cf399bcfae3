import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { openCheckpoint } from '@peft/core/node';
import { MODEL_PRESETS } from '@peft/models';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { useBackendForTests } from '../test-support/model-folder.js';
import { runPeft, tempDir } from './test-support/checkpoints.js';

let tmp: Awaited<ReturnType<typeof tempDir>>;
beforeAll(useBackendForTests);
beforeEach(async () => {
  tmp = await tempDir();
});
afterEach(async () => {
  await tmp.cleanup();
});

const SMALL = {
  hidden_size: 64,
  intermediate_size: 96,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  vocab_size: 300,
};

describe('peft random-model', () => {
  it('writes a folder of a given config that plan sizes and generate loads, the same bytes for a seed', async () => {
    const configPath = join(tmp.dir, 'config.json');
    await import('node:fs/promises').then((fs) => fs.writeFile(configPath, JSON.stringify(SMALL)));
    const a = join(tmp.dir, 'a');
    const run = await runPeft('random-model', a, '--config', configPath, '--seed', '3', '--json');
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout);
    const plan = JSON.parse((await runPeft('plan', a, '--json')).stdout);
    expect(report.parameters).toBe(plan.parameters);
    const source = await openCheckpoint(a);
    const bytes = source.keys().reduce((n, k) => n + source.info(k).shape.reduce((x, y) => x * y, 1) * 2, 0);
    await source.close();
    expect(report.weightBytes).toBe(bytes);
    const generated = await runPeft(
      'generate',
      a,
      '--prompt',
      'hello',
      '--max-new-tokens',
      '3',
      '--backend',
      'wasm',
    );
    expect(generated.code).toBe(0);
    const b = join(tmp.dir, 'b');
    expect((await runPeft('random-model', b, '--config', configPath, '--seed', '3')).code).toBe(0);
    const weights = async (dir: string) => readFile(join(dir, 'model.safetensors'));
    expect(Buffer.compare(await weights(a), await weights(b))).toBe(0);
  });

  it('offers the real shapes as presets and needs exactly one of --preset / --config', async () => {
    const help = await runPeft('random-model', '--help');
    for (const name of Object.keys(MODEL_PRESETS)) expect(help.stdout).toContain(name);
    expect((await runPeft('random-model', join(tmp.dir, 'x'))).code).toBe(2);
    expect(
      (await runPeft('random-model', join(tmp.dir, 'x'), '--config', join(tmp.dir, 'missing.json'))).code,
    ).toBe(3);
  });
});
