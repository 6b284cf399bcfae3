import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { textRows, useBackendForTests, writeJsonl, writeTinyModel } from '../test-support/model-folder.js';
import { runPeft, tempDir } from './test-support/checkpoints.js';

let tmp: Awaited<ReturnType<typeof tempDir>>;
let modelDir: string;
let trainData: string;

beforeAll(useBackendForTests);
beforeEach(async () => {
  tmp = await tempDir();
  modelDir = await writeTinyModel(join(tmp.dir, 'model'));
  trainData = await writeJsonl(join(tmp.dir, 'train.jsonl'), textRows());
});
afterEach(async () => {
  await tmp.cleanup();
});

async function loggedSteps(out: string): Promise<{ step: number; learning_rate: number }[]> {
  const text = await readFile(join(out, 'metrics.jsonl'), 'utf8');
  return text
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l))
    .filter((l) => 'loss' in l);
}

describe('peft finetune --config', () => {
  it('takes flags from a YAML file (kebab or camelCase keys); a command-line flag overrides one', async () => {
    const out = join(tmp.dir, 'out');
    const config = join(tmp.dir, 'run.yaml');
    await writeFile(
      config,
      [
        `data: ${JSON.stringify(trainData)}`,
        `output: ${JSON.stringify(out)}`,
        'method: lora',
        'r: 4',
        'steps: 5',
        'lr: 0.03',
        'schedule: constant',
        'batchSize: 2',
        'grad-accum-steps: 2',
        'backend: wasm',
        '',
      ].join('\n'),
    );
    const run = await runPeft('finetune', modelDir, '--config', config, '--steps', '3', '--json');
    expect(run.code).toBe(0);
    const steps = await loggedSteps(out);
    // 3 steps from the flag, not 5 from the file; the learning rate and constant schedule from the file.
    expect(steps.map((s) => s.step)).toEqual([1, 2, 3]);
    expect(steps.map((s) => s.learning_rate)).toEqual([0.03, 0.03, 0.03]);
    const adapter = JSON.parse(await readFile(join(out, 'adapter_config.json'), 'utf8'));
    expect(adapter).toMatchObject({ peft_type: 'LORA', r: 4 });
    // grad-accum-steps from the file: each step saw 2 x 2 rows, recorded in the checkpoint's fingerprint.
    const state = JSON.parse(await readFile(join(out, 'checkpoint-3', 'trainer_state.json'), 'utf8'));
    expect(state.run).toMatchObject({ gradAccumSteps: 2, batchSize: 2, steps: 3, learningRate: 0.03 });
  });

  it('--help shows an example file', async () => {
    const help = await runPeft('finetune', '--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--config <run.yaml|run.json>');
    expect(help.stdout).toMatch(/Example --config run\.yaml[^\n]*\n {2}data: data\/train\.jsonl\n/);
  });

  it('reads JSON too, and a key that is no flag exits 2 naming the key and the file', async () => {
    const config = join(tmp.dir, 'run.json');
    await writeFile(config, JSON.stringify({ steps: 1, 'learning-rate': 0.1 }));
    const run = await runPeft(
      'finetune',
      modelDir,
      '--config',
      config,
      '--data',
      trainData,
      '-o',
      join(tmp.dir, 'o'),
    );
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`--config ${config}: "learning-rate" is not a flag of \`peft finetune\``);
  });

  it('checks a value as the flag would, and still requires --data and --output', async () => {
    const config = join(tmp.dir, 'run.yaml');
    await writeFile(config, 'steps: 0\n');
    const bad = await runPeft('finetune', modelDir, '--config', config, '--data', trainData, '-o', tmp.dir);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(`--config ${config}: steps`);
    await writeFile(config, 'steps: 1\n');
    const missing = await runPeft('finetune', modelDir, '--config', config, '--data', trainData);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("required option '-o, --output <adapter-dir>' not specified");
  });
});
