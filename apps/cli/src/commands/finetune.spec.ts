import { appendFile, cp, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseSafetensors } from '@peft/core';
import { evaluateFolder, type FinetuneOptions, finetune, type MethodOptions } from '@peft/training/node';
import * as tf from '@tensorflow/tfjs-core';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  SENTENCES,
  textRows,
  useBackendForTests,
  writeJsonl,
  writeTinyModel,
} from '../test-support/model-folder.js';
import { runPeft, tempDir } from './test-support/checkpoints.js';

let tmp: Awaited<ReturnType<typeof tempDir>>;
let modelDir: string;
let trainData: string;
let evalData: string;

beforeAll(useBackendForTests);
beforeEach(async () => {
  tmp = await tempDir();
  modelDir = await writeTinyModel(join(tmp.dir, 'model'));
  trainData = await writeJsonl(join(tmp.dir, 'train.jsonl'), textRows());
  evalData = await writeJsonl(join(tmp.dir, 'eval.jsonl'), textRows(['the cat can sing.', 'a good dog.']));
});
afterEach(async () => {
  await tmp.cleanup();
});

const adapterFile = (dir: string) => readFile(join(dir, 'adapter_model.safetensors'));

/** A CLI finetune invocation on the tiny model, with `extra` arguments. */
function finetuneArgs(out: string, ...extra: string[]): string[] {
  return [
    'finetune',
    modelDir,
    '--data',
    trainData,
    '-o',
    out,
    '--backend',
    'wasm',
    '--batch-size',
    '2',
    ...extra,
  ];
}

describe('peft finetune on kernel threads', () => {
  it('trains a 4-bit model whose layers are big enough for the threads, with the losses of one thread', async () => {
    // 1024-wide layers: every 4-bit product of a batch is far above the size where threads start.
    const wide = await writeTinyModel(join(tmp.dir, 'wide'), {
      config: { hidden_size: 1024, intermediate_size: 1024, num_hidden_layers: 1 },
    });
    const train = async (threads: string, steps: number) => {
      const out = join(tmp.dir, `out-${threads}-${steps}`);
      const run = await runPeft(
        'finetune',
        wide,
        '--data',
        trainData,
        '-o',
        out,
        '--backend',
        'wasm',
        '--quantize',
        'nf4',
        '--method',
        'lora',
        '--r',
        '4',
        '--steps',
        String(steps),
        '--batch-size',
        '2',
        '--lr',
        '0.01',
        '--json',
        '--kernel-threads',
        threads,
      );
      expect(run.code, run.stderr).toBe(0);
      expect(run.stderr).toMatch(new RegExp(`4-bit matmul on ${threads} thread`));
      return JSON.parse(run.stdout) as { lastLoss: number };
    };
    // The first step's loss is a forward pass: x·Wᵀ on threads is bit-identical, so the loss is too.
    expect((await train('2', 1)).lastLoss).toBe((await train('1', 1)).lastLoss);
    // dy·W adds its chunk sums in another order (float32 rounding). AdamW's first updates are close to lr times the
    // sign of each gradient element, so an element whose gradient is a rounding error away from zero can move by
    // up to 2 lr: the third step's loss then differs in the fifth digit, not more.
    const one = await train('1', 3);
    const two = await train('2', 3);
    expect(Math.abs(two.lastLoss - one.lastLoss)).toBeLessThanOrEqual(1e-4 * Math.abs(one.lastLoss));
  });
});

describe('finetune(): stop and resume', () => {
  const methods: [string, MethodOptions][] = [
    ['LoRA', { method: 'lora', r: 4, targetModules: 'all-linear', dropout: 0.3, initLoraWeights: false }],
    ['VeRA', { method: 'vera', r: 8, targetModules: ['q_proj', 'down_proj'], dropout: 0.3 }],
  ];

  it.each(methods)(
    '%s with dropout: stopped at step 3 of 6 and resumed, the adapter is bit-identical to a straight run',
    async (_name, method) => {
      const common = (outputDir: string): FinetuneOptions => ({
        model: modelDir,
        data: trainData,
        output: outputDir,
        ...method,
        steps: 6,
        batchSize: 2,
        seed: 7,
        learningRate: 2e-2,
        saveEvery: 0,
      });
      const straightDir = join(tmp.dir, 'straight');
      const straight = await finetune(common(straightDir));
      expect(straight).toMatchObject({ completed: true, step: 6, adapterDir: straightDir });

      const stoppedDir = join(tmp.dir, 'stopped');
      const controller = new AbortController();
      // Aborted from a timer, as a Ctrl-C handler would: the run yields between steps and stops after step 3.
      const stopped = await finetune({
        ...common(stoppedDir),
        signal: controller.signal,
        callbacks: { onStep: (p) => p.step === 3 && setTimeout(() => controller.abort(), 0) },
      });
      expect(stopped).toMatchObject({ completed: false, step: 3, adapterDir: null });
      expect((await readdir(stoppedDir)).sort()).toEqual(['checkpoint-3', 'metrics.jsonl']);
      const state = JSON.parse(
        await readFile(join(stoppedDir, 'checkpoint-3', 'trainer_state.json'), 'utf8'),
      );
      // The dropout masks of three steps were drawn from the seeded stream and are accounted for.
      expect(state.adapter_random.seed).toBe(7);
      expect(state.adapter_random.draws).toBeGreaterThan(0);

      // A killed process could have logged a step past the checkpoint: the resumed run drops it.
      await appendFile(join(stoppedDir, 'metrics.jsonl'), '{"step":4,"loss":9}\n');
      const resumed = await finetune({ ...common(stoppedDir), resume: true });
      expect(resumed).toMatchObject({ completed: true, step: 6 });
      const metrics = async (dir: string) =>
        (await readFile(join(dir, 'metrics.jsonl'), 'utf8'))
          .trimEnd()
          .split('\n')
          .map((l) => JSON.parse(l));
      const logged = await metrics(stoppedDir);
      expect(logged.map((l) => l.step)).toEqual([1, 2, 3, 4, 5, 6]);
      expect(logged.map((l) => l.loss)).toEqual((await metrics(straightDir)).map((l) => l.loss));
      expect(Object.keys(logged[0]).sort()).toEqual(
        [
          'grad_norm',
          'learning_rate',
          'loss',
          'peak_rss_bytes',
          'step',
          'tf_bytes',
          'tokens_per_second',
        ].sort(),
      );
      const svg = await readFile(join(stoppedDir, 'loss.svg'), 'utf8');
      expect(svg.match(/<polyline[^>]* points="([^"]*)"/)![1]!.split(' ')).toHaveLength(6);
      const a = await adapterFile(straightDir);
      const b = await adapterFile(stoppedDir);
      expect(Buffer.compare(a, b)).toBe(0);
      // The training moved the weights: the comparison is not between two untouched adapters.
      const saved = parseSafetensors(new Uint8Array(a));
      const first = saved.keys().find((k) => /lora_B|vera_lambda_b/.test(k))!;
      const values = new Float32Array((await saved.get(first)).data.slice().buffer);
      expect(values.some((v) => v !== 0 && v !== 1)).toBe(true);
    },
  );

  it('writes the same adapter bytes as `peft finetune` given the same options', async () => {
    const cliDir = join(tmp.dir, 'cli');
    const cli = await runPeft(
      ...finetuneArgs(
        cliDir,
        '--method',
        'lora',
        '--r',
        '4',
        '--target-modules',
        'all-linear',
        '--dropout',
        '0.2',
      ),
      ...['--quantize', 'nf4', '--steps', '3', '--seed', '3', '--lr', '0.01', '--kernel-threads', '1'],
    );
    expect(cli.code).toBe(0);
    const libraryDir = join(tmp.dir, 'library');
    const result = await finetune({
      model: modelDir,
      data: trainData,
      output: libraryDir,
      method: 'lora',
      r: 4,
      targetModules: 'all-linear',
      dropout: 0.2,
      quantize: 'nf4',
      steps: 3,
      seed: 3,
      learningRate: 0.01,
      batchSize: 2,
    });
    expect(result).toMatchObject({ completed: true, step: 3, adapterDir: libraryDir });
    for (const name of ['adapter_model.safetensors', 'adapter_config.json']) {
      const a = await readFile(join(cliDir, name));
      const b = await readFile(join(libraryDir, name));
      expect(Buffer.compare(a, b), name).toBe(0);
    }
  });

  it("gives two runs in one process, even interleaved, what each gives alone (the random stream is the run's)", async () => {
    const run = (seed: number, name: string) =>
      finetune({
        model: modelDir,
        data: trainData,
        output: join(tmp.dir, name),
        method: 'lora',
        r: 4,
        targetModules: 'all-linear',
        dropout: 0.3,
        initLoraWeights: false,
        steps: 4,
        seed,
        batchSize: 2,
        saveEvery: 0,
      });
    await run(1, 'alone-1');
    await run(2, 'alone-2');
    // Both runs step in turns on one thread; each draws its dropout masks and init from its own stream.
    await Promise.all([run(1, 'together-1'), run(2, 'together-2')]);
    const alone1 = await adapterFile(join(tmp.dir, 'alone-1'));
    const alone2 = await adapterFile(join(tmp.dir, 'alone-2'));
    expect(Buffer.compare(alone1, alone2)).not.toBe(0);
    expect(Buffer.compare(await adapterFile(join(tmp.dir, 'together-1')), alone1)).toBe(0);
    expect(Buffer.compare(await adapterFile(join(tmp.dir, 'together-2')), alone2)).toBe(0);
  });

  it('with gradient checkpointing (and dropout) trains to the adapter a plain run gives, and reports peak memory', async () => {
    const run = (name: string, gradientCheckpointing: boolean) =>
      finetune({
        model: modelDir,
        data: trainData,
        output: join(tmp.dir, name),
        method: 'vera',
        r: 8,
        targetModules: 'all-linear',
        // Recomputed layers must replay the forward pass's dropout masks for the gradients to match.
        dropout: 0.3,
        steps: 3,
        batchSize: 2,
        seed: 4,
        saveEvery: 0,
        gradientCheckpointing,
      });
    const plain = await run('plain', false);
    const checkpointed = await run('checkpointed', true);
    expect(checkpointed.gradientCheckpointing).toBe(true);
    expect(checkpointed.lastLoss).toBeCloseTo(plain.lastLoss!, 5);
    const a = parseSafetensors(new Uint8Array(await adapterFile(join(tmp.dir, 'plain'))));
    const b = parseSafetensors(new Uint8Array(await adapterFile(join(tmp.dir, 'checkpointed'))));
    for (const key of a.keys()) {
      const x = new Float32Array((await a.get(key)).data.slice().buffer);
      const y = new Float32Array((await b.get(key)).data.slice().buffer);
      for (let i = 0; i < x.length; i++)
        expect(Math.abs(x[i]! - y[i]!), key).toBeLessThanOrEqual(1e-5 * (1 + Math.abs(x[i]!)));
    }
    expect(plain.peakRssBytes).toBeGreaterThan(plain.peakTfBytes);
    expect(plain.peakTfBytes).toBeGreaterThan(0);
  });

  it("reports the trained adapter's perplexity on a data folder's test.jsonl, as peft eval measures it", async () => {
    const folder = join(tmp.dir, 'data');
    await mkdir(folder);
    await cp(trainData, join(folder, 'train.jsonl'));
    await cp(evalData, join(folder, 'test.jsonl'));
    const output = join(tmp.dir, 'with-test');
    const result = await finetune({
      model: modelDir,
      data: folder,
      output,
      method: 'lora',
      r: 4,
      targetModules: 'all-linear',
      steps: 3,
      batchSize: 2,
      seqLen: 32,
      saveEvery: 0,
    });
    expect(result.test).not.toBeNull();
    const measured = await evaluateFolder({
      model: modelDir,
      data: join(folder, 'test.jsonl'),
      adapter: output,
      batchSize: 2,
      seqLen: 32,
    });
    expect(result.test!.tokens).toBe(measured.tokens);
    expect(result.test!.loss).toBeCloseTo(measured.loss, 5);
    expect(result.test!.perplexity).toBeCloseTo(Math.exp(measured.loss), 3);
    // Without a test file there is nothing to report.
    expect(
      (
        await finetune({
          model: modelDir,
          data: trainData,
          output: join(tmp.dir, 'no-test'),
          method: 'lora',
          r: 4,
          steps: 1,
          batchSize: 2,
          saveEvery: 0,
        })
      ).test,
    ).toBeNull();
  });

  it('holds tf.memory().numTensors flat across steps and frees everything at the end', async () => {
    const before = tf.memory().numTensors;
    const counts: number[] = [];
    await finetune({
      model: modelDir,
      data: trainData,
      evalData,
      output: join(tmp.dir, 'memory'),
      method: 'lora',
      r: 4,
      targetModules: 'all-linear',
      dropout: 0.1,
      steps: 6,
      batchSize: 3,
      evalEvery: 2,
      saveEvery: 3,
      callbacks: { onStep: () => counts.push(tf.memory().numTensors) },
    });
    expect(counts).toHaveLength(6);
    expect(new Set(counts.slice(1)).size).toBe(1);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('lowers the loss of the model it trains', async () => {
    const stepLosses: number[] = [];
    // One batch holds the whole data set, so step 1's loss is the untrained model's loss on it.
    const result = await finetune({
      model: modelDir,
      data: trainData,
      evalData: trainData,
      output: join(tmp.dir, 'learn'),
      method: 'lora',
      r: 8,
      targetModules: 'all-linear',
      steps: 20,
      batchSize: SENTENCES.length,
      learningRate: 3e-2,
      saveEvery: 0,
      callbacks: { onStep: (p) => stepLosses.push(p.loss) },
    });
    expect(stepLosses).toHaveLength(20);
    expect(result.eval!.loss).toBeLessThan(stepLosses[0]! - 0.5);
  });
});

describe('peft finetune', () => {
  it('writes checkpoints and a PEFT adapter; --resume from a mid-run checkpoint ends where a straight run does', async () => {
    const straight = join(tmp.dir, 'straight');
    const run = await runPeft(
      ...finetuneArgs(straight, '--method', 'lora', '--r', '4', '--dropout', '0.2', '--steps', '4'),
      '--save-every',
      '2',
      '--keep-checkpoints',
      '0',
      '--eval-data',
      evalData,
      '--seed',
      '3',
    );
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/trained 4\/4 steps/);
    expect(run.stdout).toMatch(/eval loss \d+\.\d+, perplexity/);
    expect(run.stderr).toMatch(/step 4\/4 {2}loss \d/);
    expect(run.stderr).toMatch(/checkpoint at step 2: .*checkpoint-2/);
    expect((await readdir(straight)).sort()).toEqual([
      'README.md',
      'adapter_config.json',
      'adapter_model.safetensors',
      'checkpoint-2',
      'checkpoint-4',
      'loss.svg',
      'metrics.jsonl',
    ]);
    expect((await readdir(join(straight, 'checkpoint-2'))).sort()).toEqual([
      'adapter_config.json',
      'adapter_model.safetensors',
      'optimizer.safetensors',
      'trainer_state.json',
    ]);
    const config = JSON.parse(await readFile(join(straight, 'adapter_config.json'), 'utf8'));
    expect(config).toMatchObject({
      peft_type: 'LORA',
      r: 4,
      lora_dropout: 0.2,
      base_model_name_or_path: modelDir,
    });
    const state = JSON.parse(await readFile(join(straight, 'checkpoint-2', 'trainer_state.json'), 'utf8'));
    expect(state).toMatchObject({
      global_step: 2,
      max_steps: 4,
      sampler: { seed: 3, epoch: 0, position: 4 },
    });
    expect(state.log_history.map((e: { step: number }) => e.step)).toEqual([1, 2]);
    const optimizer = parseSafetensors(
      new Uint8Array(await readFile(join(straight, 'checkpoint-2', 'optimizer.safetensors'))),
    );
    expect(optimizer.keys()).toContain(
      'model.layers.0.self_attn.q_proj.adapters.default.lora_A.weight.exp_avg_sq',
    );

    // The folder of a run stopped after step 2: only its checkpoint.
    const resumedDir = join(tmp.dir, 'resumed');
    await cp(join(straight, 'checkpoint-2'), join(resumedDir, 'checkpoint-2'), { recursive: true });
    const resumed = await runPeft(
      ...finetuneArgs(resumedDir, '--method', 'lora', '--r', '4', '--dropout', '0.2', '--steps', '4'),
      '--eval-data',
      evalData,
      '--seed',
      '3',
      '--resume',
    );
    expect(resumed.code).toBe(0);
    expect(resumed.stderr).toMatch(/resuming from .*checkpoint-2 \(step 2 of 4\)/);
    expect(Buffer.compare(await adapterFile(straight), await adapterFile(resumedDir))).toBe(0);
    expect(resumed.stdout.split('\n')[1]).toBe(run.stdout.split('\n')[1]); // the same final eval line
  });

  it('quantizes on the fly with --quantize nf4 and trains VeRA over the 4-bit layers', async () => {
    const out = join(tmp.dir, 'qlora');
    const run = await runPeft(
      ...finetuneArgs(
        out,
        '--quantize',
        'nf4',
        '--target-modules',
        'all-linear',
        '--r',
        '16',
        '--steps',
        '2',
        '--json',
      ),
    );
    expect(run.code).toBe(0);
    expect(run.stderr).toContain('linear layers: 14 bnb4-nf4, 1 dense');
    expect(JSON.parse(run.stdout)).toMatchObject({
      completed: true,
      step: 2,
      totalSteps: 2,
      adapterDir: out,
    });
    const config = JSON.parse(await readFile(join(out, 'adapter_config.json'), 'utf8'));
    expect(config).toMatchObject({ peft_type: 'VERA', r: 16 });
    expect(config.target_modules).toHaveLength(14);
  });

  it('trains a saved adapter folder further with --adapter', async () => {
    const first = join(tmp.dir, 'first');
    expect((await runPeft(...finetuneArgs(first, '--method', 'lora', '--steps', '2'))).code).toBe(0);
    const second = join(tmp.dir, 'second');
    const run = await runPeft(...finetuneArgs(second, '--adapter', first, '--steps', '2'));
    expect(run.code).toBe(0);
    expect(Buffer.compare(await adapterFile(first), await adapterFile(second))).not.toBe(0);
    const clash = await runPeft(...finetuneArgs(join(tmp.dir, 'x'), '--adapter', first, '--r', '4'));
    expect(clash.code).toBe(2);
    expect(clash.stderr).toContain('--adapter gives the whole adapter config; drop --r');
  });

  it('refuses to start over an earlier run without --overwrite, and --resume needs a checkpoint', async () => {
    const out = join(tmp.dir, 'run');
    expect((await runPeft(...finetuneArgs(out, '--steps', '1'))).code).toBe(0);
    const before = await adapterFile(out);
    const again = await runPeft(...finetuneArgs(out, '--steps', '1', '--seed', '9'));
    expect(again.code).toBe(3);
    expect(again.stderr).toMatch(
      /already holds a fine-tuning run \(checkpoint-1, adapter_config\.json.*--resume.*--overwrite/,
    );
    expect(Buffer.compare(await adapterFile(out), before)).toBe(0);
    expect((await runPeft(...finetuneArgs(out, '--steps', '1', '--seed', '9', '--overwrite'))).code).toBe(0);
    expect(Buffer.compare(await adapterFile(out), before)).not.toBe(0);

    const empty = await runPeft(...finetuneArgs(join(tmp.dir, 'empty'), '--steps', '1', '--resume'));
    expect(empty.code).toBe(3);
    expect(empty.stderr).toMatch(/holds no checkpoint-<step> folder to continue; run without --resume/);

    // --overwrite deletes the earlier run only once the new one has loaded: a failing start keeps it.
    const bad = await writeJsonl(join(tmp.dir, 'bad.jsonl'), ['{oops']);
    const failed = await runPeft(
      'finetune',
      modelDir,
      '--data',
      bad,
      '-o',
      out,
      '--overwrite',
      '--backend',
      'wasm',
    );
    expect(failed.code).toBe(3);
    expect((await readdir(out)).sort()).toEqual([
      'README.md',
      'adapter_config.json',
      'adapter_model.safetensors',
      'checkpoint-1',
      'loss.svg',
      'metrics.jsonl',
    ]);
  });

  it('refuses to resume with other settings, naming what changed', async () => {
    const out = join(tmp.dir, 'run');
    expect(
      (await runPeft(...finetuneArgs(out, '--steps', '2', '--save-every', '1', '--lr', '0.01'))).code,
    ).toBe(0);
    const run = await runPeft(...finetuneArgs(out, '--steps', '3', '--lr', '0.02', '--resume'));
    expect(run.code).toBe(3);
    expect(run.stderr).toContain('learningRate: 0.01 -> 0.02');
    expect(run.stderr).toContain('steps: 2 -> 3');
  });

  it('trains on chat rows with the chat template; the assistant-only loss is part of the run, and no template is an error', async () => {
    const chat = await writeJsonl(join(tmp.dir, 'chat.jsonl'), [
      {
        messages: [
          { role: 'user', content: 'hi' },
          { role: 'assistant', content: 'a good dog.' },
        ],
      },
      {
        messages: [
          { role: 'user', content: 'yo' },
          { role: 'assistant', content: 'the cat.' },
        ],
      },
    ]);
    const chatArgs = (out: string, ...extra: string[]) => [
      'finetune',
      modelDir,
      '--data',
      chat,
      '-o',
      out,
      '--backend',
      'wasm',
      '--batch-size',
      '2',
      ...extra,
    ];
    const out = join(tmp.dir, 'chat-run');
    const missing = await runPeft(...chatArgs(out, '--steps', '1'));
    expect(missing.code).toBe(3);
    expect(missing.stderr).toMatch(/chat\.jsonl:1: a chat "messages" row needs the model's chat template/);

    await writeFile(
      join(modelDir, 'tokenizer_config.json'),
      JSON.stringify({
        add_bos_token: true,
        bos_token: '<s>',
        eos_token: '</s>',
        chat_template:
          "{{ bos_token }}{% for m in messages %}{{ m.role + ',' + m.content }}{% if m.role == 'assistant' %}{{ eos_token }}{% endif %}{% endfor %}",
      }),
    );
    const run = await runPeft(...chatArgs(out, '--steps', '2', '--save-every', '1'));
    expect(run.code, run.stderr).toBe(0);
    expect(await readdir(out)).toContain('adapter_model.safetensors');
    const resumed = await runPeft(...chatArgs(out, '--steps', '2', '--resume', '--no-assistant-only-loss'));
    expect(resumed.code).toBe(3);
    expect(resumed.stderr).toContain('assistant_only_loss');
  });

  it('a bad JSONL line fails naming file and line, with exit code 3 and nothing written', async () => {
    const bad = await writeJsonl(join(tmp.dir, 'bad.jsonl'), [{ text: SENTENCES[0] }, '{"text": "unclosed']);
    const out = join(tmp.dir, 'out');
    const run = await runPeft('finetune', modelDir, '--data', bad, '-o', out, '--backend', 'wasm');
    expect(run.code).toBe(3);
    expect(run.stderr).toMatch(/bad\.jsonl:2: not valid JSON/);
    await expect(stat(out)).rejects.toThrow();

    const noText = await writeJsonl(join(tmp.dir, 'ids.jsonl'), [{ input_ids: [1, 5, 99] }]);
    const outside = await runPeft('finetune', modelDir, '--data', noText, '-o', out, '--backend', 'wasm');
    expect(outside.code).toBe(3);
    expect(outside.stderr).toMatch(/token id 99 is outside the vocabulary \(40\)/);
  });

  it('text rows need the model folder to have a tokenizer.json', async () => {
    const bare = await writeTinyModel(join(tmp.dir, 'bare'), { noTokenizer: true });
    const run = await runPeft(
      'finetune',
      bare,
      '--data',
      trainData,
      '-o',
      join(tmp.dir, 'o'),
      '--backend',
      'wasm',
    );
    expect(run.code).toBe(3);
    expect(run.stderr).toMatch(/train\.jsonl:1: a "text" row needs the model folder's tokenizer\.json/);
    const ids = await writeJsonl(join(tmp.dir, 'ids.jsonl'), [
      { input_ids: [1, 5, 6, 7, 2] },
      { input_ids: [1, 8, 9] },
    ]);
    const withIds = await runPeft(
      'finetune',
      bare,
      '--data',
      ids,
      '-o',
      join(tmp.dir, 'o'),
      '--backend',
      'wasm',
      '--steps',
      '1',
    );
    expect(withIds.code).toBe(0);
  });

  it('reports missing files and bad arguments with the documented exit codes', async () => {
    const missing = await runPeft(
      'finetune',
      join(tmp.dir, 'nope'),
      '--data',
      trainData,
      '-o',
      join(tmp.dir, 'o'),
    );
    expect(missing.code).toBe(3);
    expect(missing.stderr).toMatch(/model folder .*nope does not exist/);
    const noData = await runPeft(
      'finetune',
      modelDir,
      '--data',
      join(tmp.dir, 'none.jsonl'),
      '-o',
      join(tmp.dir, 'o'),
      '--backend',
      'wasm',
    );
    expect(noData.code).toBe(3);
    expect(noData.stderr).toMatch(/data file .*none\.jsonl cannot be read/);
    expect((await runPeft(...finetuneArgs(join(tmp.dir, 'o'), '--method', 'ia3'))).code).toBe(2);
    const wrongFlag = await runPeft(...finetuneArgs(join(tmp.dir, 'o'), '--lora-alpha', '16'));
    expect(wrongFlag.code).toBe(2);
    expect(wrongFlag.stderr).toContain('--lora-alpha applies to --method lora only');
    expect((await runPeft(...finetuneArgs(join(tmp.dir, 'o'), '--steps', '0'))).code).toBe(2);
    expect((await runPeft('finetune', modelDir, '-o', join(tmp.dir, 'o'))).code).toBe(2);
    await expect(stat(join(tmp.dir, 'o', 'adapter_config.json'))).rejects.toThrow();
    const help = await runPeft('finetune', '--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: peft finetune [options] <model-dir>');
    expect(help.stdout).toContain('--resume');
  });
});
