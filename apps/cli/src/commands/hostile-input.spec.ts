// Hostile or broken input through the `peft` commands: each is refused with exit code 3 and one sentence
// saying what and where, never a stack overflow, an out-of-memory crash, a run away, or a silent NaN.
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fromFloat32, toFloat32 } from '@peft/core';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { EXIT } from '../exit-codes.js';
import {
  SENTENCES,
  textRows,
  useBackendForTests,
  writeJsonl,
  writeTinyModel,
} from '../test-support/model-folder.js';
import { readFileDict, runPeft, tempDir, writeFileDict } from './test-support/checkpoints.js';

let tmp: Awaited<ReturnType<typeof tempDir>>;
let modelDir: string;
beforeAll(useBackendForTests);
beforeEach(async () => {
  tmp = await tempDir();
  modelDir = await writeTinyModel(join(tmp.dir, 'model'), { seed: 4 });
});
afterEach(async () => {
  await tmp.cleanup();
});

async function editConfig(dir: string, fields: Record<string, unknown>): Promise<string> {
  const path = join(dir, 'config.json');
  const config = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
  await writeFile(path, JSON.stringify({ ...config, ...fields }));
  return path;
}

/** All files of a folder, by name, as bytes. */
async function folderBytes(dir: string): Promise<Record<string, Buffer>> {
  const files: Record<string, Buffer> = {};
  for (const name of (await readdir(dir)).sort()) files[name] = await readFile(join(dir, name));
  return files;
}

describe('config.json sizes are checked before anything is sized from them', () => {
  it.each([1e5, 1e6, 1e9])('plan, eval and generate refuse num_hidden_layers %d', async (layers) => {
    const config = await editConfig(modelDir, { num_hidden_layers: layers });
    const data = await writeJsonl(join(tmp.dir, 'data.jsonl'), textRows());
    for (const args of [
      ['plan', config],
      ['plan', modelDir],
      ['eval', modelDir, '--data', data, '--backend', 'wasm'],
      ['generate', modelDir, '--prompt', 'the', '--backend', 'wasm'],
    ]) {
      const run = await runPeft(...args);
      expect(run.code, `${args[0]}: ${run.stderr}`).toBe(EXIT.badInput);
      expect(run.stderr).toMatch(new RegExp(`config\\.json: "num_hidden_layers" is ${layers}; at most 1024`));
    }
  });

  it('plan still sizes a 70B model from its config alone', async () => {
    const config = join(tmp.dir, 'config.json');
    await writeFile(
      config,
      JSON.stringify({
        architectures: ['LlamaForCausalLM'],
        model_type: 'llama',
        hidden_size: 8192,
        intermediate_size: 28672,
        num_hidden_layers: 80,
        num_attention_heads: 64,
        num_key_value_heads: 8,
        vocab_size: 128256,
        max_position_embeddings: 131072,
        rope_theta: 500000,
        tie_word_embeddings: false,
      }),
    );
    const run = await runPeft('plan', config, '--json');
    expect(run.code, run.stderr).toBe(0);
    // 80 layers of 4 attention and 3 MLP projections, norms, embedding and head: Llama 3 70B's 70.55B.
    expect(JSON.parse(run.stdout).parameters).toBe(70_553_706_496);
  });
});

describe('NaN or Inf in a dense weight is refused at load, naming the file and the tensor', () => {
  const TENSOR = 'model.layers.1.mlp.up_proj.weight';

  beforeEach(async () => {
    const path = join(modelDir, 'model.safetensors');
    const dict = await readFileDict(path);
    const values = toFloat32(dict.get(TENSOR)!);
    values[11] = Number.NaN;
    dict.set(TENSOR, fromFloat32(values, dict.get(TENSOR)!.shape, dict.get(TENSOR)!.dtype));
    await writeFileDict(path, dict);
  });

  it.each([
    ['eval', (data: string) => ['eval', modelDir, '--data', data, '--backend', 'wasm']],
    ['generate', () => ['generate', modelDir, '--prompt', 'the cat', '--backend', 'wasm']],
  ])('%s exits 3 instead of printing a null loss or only the prompt', async (_, args) => {
    const data = await writeJsonl(join(tmp.dir, 'data.jsonl'), textRows());
    const run = await runPeft(...args(data));
    expect(run.code, run.stderr).toBe(EXIT.badInput);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(
      new RegExp(
        `model\\.safetensors: tensor "${TENSOR.replaceAll('.', '\\.')}" has a non-finite value NaN at flat index 11`,
      ),
    );
  });
});

describe('training data', () => {
  it('a multi-megabyte line is cut to --seq-len without tokenizing it whole', async () => {
    const long = SENTENCES.join(' ').repeat(Math.ceil(5_000_000 / SENTENCES.join(' ').length));
    const data = await writeJsonl(join(tmp.dir, 'long.jsonl'), [{ text: long }, { text: SENTENCES[0]! }]);
    const run = await runPeft(
      'eval',
      modelDir,
      '--data',
      data,
      '--seq-len',
      '32',
      '--json',
      '--backend',
      'wasm',
    );
    expect(run.code, run.stderr).toBe(0);
    // 31 predicted tokens of the cut line, and those of the short one (BOS, "▁", its characters, EOS).
    expect(JSON.parse(run.stdout)).toMatchObject({ tokens: 31 + SENTENCES[0]!.length + 2, examples: 2 });
  });

  it('a line above the hard limit is refused naming its line', async () => {
    const data = await writeJsonl(join(tmp.dir, 'huge.jsonl'), [
      { text: 'ok' },
      '',
      { text: 'x'.repeat(17 * 2 ** 20) },
    ]);
    const run = await runPeft('eval', modelDir, '--data', data, '--backend', 'wasm');
    expect(run.code).toBe(EXIT.badInput);
    expect(run.stderr).toMatch(
      /huge\.jsonl:3: the line is \d+ characters long; lines of at most 16777216 are read/,
    );
  });

  it('invalid UTF-8 is refused naming file:line, not trained on as U+FFFD', async () => {
    const data = join(tmp.dir, 'latin1.jsonl');
    await writeFile(
      data,
      Buffer.concat([
        Buffer.from('{"text": "the cat"}\n\n\n{"text": "caf'),
        Buffer.from([0xe9]),
        Buffer.from('"}\n'),
      ]),
    );
    const run = await runPeft(
      'finetune',
      modelDir,
      '--data',
      data,
      '-o',
      join(tmp.dir, 'out'),
      '--steps',
      '1',
      '--backend',
      'wasm',
    );
    expect(run.code).toBe(EXIT.badInput);
    expect(run.stderr).toContain(`${data}:4: is not valid UTF-8`);
  });

  it('errors name the physical line when the file has blank lines', async () => {
    const data = await writeJsonl(join(tmp.dir, 'gaps.jsonl'), [
      { text: 'the cat' },
      '',
      '',
      '',
      { input_ids: [1, 5, 99] },
    ]);
    const run = await runPeft('eval', modelDir, '--data', data, '--backend', 'wasm');
    expect(run.code).toBe(EXIT.badInput);
    expect(run.stderr).toContain(`${data}:5: token id 99 is outside the vocabulary (40)`);
  });

  it('finetune skips rows that predict no token with a warning, and refuses a file of only such rows', async () => {
    const mixed = await writeJsonl(join(tmp.dir, 'mixed.jsonl'), [
      { input_ids: [1] },
      { input_ids: [] },
      ...textRows(SENTENCES.slice(0, 3)),
      { input_ids: [5] },
    ]);
    const ok = await runPeft(
      'finetune',
      modelDir,
      '--data',
      mixed,
      '-o',
      join(tmp.dir, 'a'),
      '--steps',
      '2',
      '--batch-size',
      '1',
      '--backend',
      'wasm',
    );
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).toContain(
      `warning: ${mixed}: 3 of 6 rows (lines 1, 2, 6) have fewer than 2 tokens or no label after the first, so they predict no token; they are skipped`,
    );

    const short = await writeJsonl(join(tmp.dir, 'short.jsonl'), [
      { input_ids: [1] },
      '',
      { input_ids: [7] },
    ]);
    const bad = await runPeft(
      'finetune',
      modelDir,
      '--data',
      short,
      '-o',
      join(tmp.dir, 'b'),
      '--steps',
      '2',
      '--backend',
      'wasm',
    );
    expect(bad.code).toBe(EXIT.badInput);
    expect(bad.stderr).toContain(
      `${short}: 2 of 2 rows (lines 1, 3) have fewer than 2 tokens or no label after the first, so they predict no token: nothing to evaluate or train on`,
    );
    expect(bad.stderr).not.toMatch(/Cannot find a connection/);
  });
});

describe('finetune stops on divergence and keeps the last good checkpoint', () => {
  it('a learning rate of 1e38: exit 3 naming the checkpoint, which is byte for byte what step 1 wrote', async () => {
    const data = await writeJsonl(join(tmp.dir, 'train.jsonl'), textRows());
    const common = [
      '--data',
      data,
      '--backend',
      'wasm',
      '--method',
      'lora',
      '--lr',
      '1e38',
      '--seed',
      '3',
      '--batch-size',
      '2',
      '--save-every',
      '1',
      '--keep-checkpoints',
      '0',
    ];
    const reference = join(tmp.dir, 'one-step');
    const first = await runPeft('finetune', modelDir, '-o', reference, ...common, '--steps', '1');
    expect(first.code, first.stderr).toBe(0);

    const out = join(tmp.dir, 'diverged');
    const run = await runPeft('finetune', modelDir, '-o', out, ...common, '--steps', '5');
    expect(run.code).toBe(EXIT.badInput);
    const checkpoint = join(out, 'checkpoint-1');
    expect(run.stderr).toMatch(/training diverged at step 2: the (loss|gradient norm) is (NaN|Infinity)/);
    expect(run.stderr).toContain(`${checkpoint} is the last good checkpoint`);
    expect(run.stderr).toContain('--lr 1e+37');
    // Nothing written after step 1: no later checkpoint, no adapter, only step 1 in the metrics log.
    expect((await readdir(out)).sort()).toEqual(['checkpoint-1', 'metrics.jsonl']);
    const logged = (await readFile(join(out, 'metrics.jsonl'), 'utf8')).trimEnd().split('\n');
    expect(logged.map((l) => JSON.parse(l).step)).toEqual([1]);
    const [got, expected] = [
      await folderBytes(checkpoint),
      await folderBytes(join(reference, 'checkpoint-1')),
    ];
    expect(Object.keys(got)).toEqual(Object.keys(expected));
    for (const name of ['adapter_model.safetensors', 'adapter_config.json', 'optimizer.safetensors']) {
      expect(got[name]!.equals(expected[name]!), name).toBe(true);
    }
    // The checkpoint's own weights are finite: nothing of the diverged step reached them.
    const weights = await readFileDict(join(checkpoint, 'adapter_model.safetensors'));
    for (const [name, tensor] of weights) expect(toFloat32(tensor).every(Number.isFinite), name).toBe(true);
  });

  it('a sampler position of 1e9 in trainer_state.json is refused on resume, naming the file', async () => {
    const data = await writeJsonl(join(tmp.dir, 'train.jsonl'), textRows());
    const out = join(tmp.dir, 'run');
    const common = [
      'finetune',
      modelDir,
      '--data',
      data,
      '-o',
      out,
      '--backend',
      'wasm',
      '--steps',
      '2',
      '--save-every',
      '2',
    ];
    const trained = await runPeft(...common);
    expect(trained.code, trained.stderr).toBe(0);
    const statePath = join(out, 'checkpoint-2', 'trainer_state.json');
    const state = JSON.parse(await readFile(statePath, 'utf8'));
    state.sampler.position = 1e9;
    await writeFile(statePath, JSON.stringify(state));
    const run = await runPeft(...common, '--resume');
    expect(run.code).toBe(EXIT.badInput);
    expect(run.stderr).toContain(
      `${join(out, 'checkpoint-2')}: trainer_state.json: the sampler position 1000000000 is not a batch boundary`,
    );
  });
});
