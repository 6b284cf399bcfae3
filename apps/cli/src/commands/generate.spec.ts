import { join } from 'node:path';
import { peftModelFromFolder as loadAdapter } from '@peft/adapter-bridge/node';
import { type GenerateOptions, generate } from '@peft/models';
import { loadPretrainedFolder } from '@peft/models/node';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { textRows, useBackendForTests, writeJsonl, writeTinyModel } from '../test-support/model-folder.js';
import { runPeft, tempDir } from './test-support/checkpoints.js';

let tmp: Awaited<ReturnType<typeof tempDir>>;
let modelDir: string;
beforeAll(useBackendForTests);
beforeEach(async () => {
  tmp = await tempDir();
  modelDir = await writeTinyModel(join(tmp.dir, 'model'), { seed: 2 });
});
afterEach(async () => {
  await tmp.cleanup();
});

const PROMPT = 'the cat';

/** What @peft/models' own generate gives for the folder (and adapter), decoded as the command decodes. */
async function reference(
  options: GenerateOptions,
  adapter?: string,
): Promise<{ tokens: number[]; text: string }> {
  const { model, tokenizer } = await loadPretrainedFolder(modelDir);
  const peft = adapter ? await loadAdapter(model, adapter) : null;
  try {
    const ids = tokenizer!.encode(PROMPT);
    const { tokens } = await generate(model, ids, options);
    return { tokens: tokens[0]!, text: tokenizer!.decode([...ids, ...tokens[0]!]) };
  } finally {
    if (peft) peft.dispose();
    else model.dispose();
  }
}

async function generateJson(...args: string[]) {
  const run = await runPeft('generate', modelDir, '--prompt', PROMPT, '--json', '--backend', 'wasm', ...args);
  expect(run.code, run.stderr).toBe(0);
  return JSON.parse(run.stdout) as {
    text: string;
    completion: string;
    tokens: number[];
    finishReason: string;
    sampled: boolean;
  };
}

describe('peft generate', () => {
  it('continues the prompt greedily by default, as the model package’s generate does', async () => {
    const result = await generateJson('--max-new-tokens', '8');
    const expected = await reference({ maxNewTokens: 8 });
    expect(result.tokens).toEqual(expected.tokens);
    expect(result.text).toBe(expected.text);
    expect(result.text.startsWith(PROMPT)).toBe(true);
    expect(result.completion).toBe(result.text.slice(PROMPT.length));
    expect(result.sampled).toBe(false);
    const plain = await runPeft(
      'generate',
      modelDir,
      '--prompt',
      PROMPT,
      '--max-new-tokens',
      '8',
      '--backend',
      'wasm',
    );
    expect(plain.stdout).toBe(`${expected.text}\n`);
    expect(await generateJson('--max-new-tokens', '8', '--temperature', '0')).toEqual(result);
  });

  it('samples with --temperature / --top-k / --top-p, repeatably for a seed', async () => {
    const args = ['--max-new-tokens', '12', '--temperature', '1.5', '--top-k', '20', '--top-p', '0.95'];
    const a = await generateJson(...args, '--seed', '5');
    expect(a.sampled).toBe(true);
    expect(await generateJson(...args, '--seed', '5')).toEqual(a);
    const expected = await reference({
      maxNewTokens: 12,
      doSample: true,
      temperature: 1.5,
      topK: 20,
      topP: 0.95,
      seed: 5,
    });
    expect(a.tokens).toEqual(expected.tokens);
    const other = await generateJson(...args, '--seed', '6');
    expect(other.tokens).not.toEqual(a.tokens);
  });

  it('applies an adapter as PEFT’s from_pretrained does', async () => {
    const data = await writeJsonl(join(tmp.dir, 'data.jsonl'), textRows());
    const adapter = join(tmp.dir, 'adapter');
    const trained = await runPeft(
      'finetune',
      modelDir,
      '--data',
      data,
      '-o',
      adapter,
      '--method',
      'lora',
      '--target-modules',
      'all-linear',
      '--steps',
      '5',
      '--lr',
      '0.05',
      '--backend',
      'wasm',
    );
    expect(trained.code).toBe(0);
    const result = await generateJson('--max-new-tokens', '10', '--adapter', adapter);
    expect(result.tokens).toEqual((await reference({ maxNewTokens: 10 }, adapter)).tokens);
  });

  it('runs the 4-bit matmul on as many kernel threads as asked, with the same tokens', async () => {
    const run = await runPeft(
      'generate',
      modelDir,
      '--prompt',
      PROMPT,
      '--json',
      '--backend',
      'wasm',
      '--max-new-tokens',
      '6',
      '--kernel-threads',
      '2',
    );
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/backend: wasm \(requested "wasm"\); 4-bit matmul on 2 threads/);
    expect(JSON.parse(run.stdout).tokens).toEqual((await reference({ maxNewTokens: 6 })).tokens);
    for (const bad of ['0', '1.5', 'many']) {
      const refused = await runPeft('generate', modelDir, '--prompt', 'x', '--kernel-threads', bad);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toMatch(/--kernel-threads.*whole number >= 1, or auto/);
    }
  });

  it('needs a tokenizer, a prompt, a fitting adapter and valid sampling options', async () => {
    const bare = await writeTinyModel(join(tmp.dir, 'bare'), { noTokenizer: true });
    const noTokenizer = await runPeft('generate', bare, '--prompt', 'x', '--backend', 'wasm');
    expect(noTokenizer.code).toBe(3);
    expect(noTokenizer.stderr).toMatch(/has no tokenizer\.json/);
    expect((await runPeft('generate', modelDir)).code).toBe(2);
    expect((await runPeft('generate', modelDir, '--prompt', 'x', '--top-p', '2')).code).toBe(2);
    expect((await runPeft('generate', modelDir, '--prompt', 'x', '--temperature', '-1')).code).toBe(2);
    const other = join(tmp.dir, 'other-adapter');
    const otherModel = await writeTinyModel(join(tmp.dir, 'other'), { config: { num_hidden_layers: 1 } });
    const data = await writeJsonl(join(tmp.dir, 'data.jsonl'), textRows());
    expect(
      (
        await runPeft(
          'finetune',
          otherModel,
          '--data',
          data,
          '-o',
          other,
          '--method',
          'lora',
          '--steps',
          '1',
          '--backend',
          'wasm',
        )
      ).code,
    ).toBe(0);
    const misfit = await runPeft(
      'generate',
      modelDir,
      '--prompt',
      'x',
      '--adapter',
      other,
      '--backend',
      'wasm',
    );
    expect(misfit.code).toBe(3);
    expect(misfit.stderr).toContain('does not fit the model');
    const help = await runPeft('generate', '--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: peft generate [options] <model-dir>');
  });
});
