import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setWarningHandler } from '@peft/adapter-bridge';
import { writeRandomModel } from '@peft/models/node';
import '@peft/lora';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRuntimeOutOfMemory, memoryAdvice, OutOfMemoryError } from '../out-of-memory.js';
import { finetune } from './finetune.js';

let dir: string;
let model: string;
let data: string;
let longData: string;

beforeAll(async () => {
  setWarningHandler(() => {});
  dir = await mkdtemp(join(tmpdir(), 'peft-oom-'));
  model = join(dir, 'model');
  await writeRandomModel(
    model,
    {
      vocab_size: 64,
      hidden_size: 16,
      intermediate_size: 32,
      num_hidden_layers: 1,
      num_attention_heads: 2,
      num_key_value_heads: 1,
      max_position_embeddings: 1 << 16,
      bos_token_id: 1,
      eos_token_id: 2,
      initializer_range: 0.1,
      torch_dtype: 'float32',
    },
    { dtype: 'float32' },
  );
  const row = (length: number) => (i: number) =>
    JSON.stringify({ input_ids: Array.from({ length }, (_, j) => (i + j) % 60) });
  data = join(dir, 'train.jsonl');
  await writeFile(data, `${[0, 1, 2, 3].map(row(24)).join('\n')}\n`);
  longData = join(dir, 'long.jsonl');
  await writeFile(longData, `${[0, 1, 2, 3, 4, 5, 6, 7].map(row(16384)).join('\n')}\n`);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const base = () => ({
  model,
  data,
  method: 'lora',
  r: 2,
  steps: 1,
  saveEvery: 0,
  backend: 'wasm' as const,
  kernelThreads: 1,
});

async function failure(run: Promise<unknown>): Promise<unknown> {
  return run.then(
    () => {
      throw new Error('expected the run to fail');
    },
    (error: unknown) => error,
  );
}

describe('running out of memory', () => {
  it('refuses before any step when one step cannot fit the 4 GiB wasm heap, and says what to lower', async () => {
    const output = join(dir, 'refused');
    // Attention scores alone: 8 x 2 heads x 16384² x 4 B = 16 GiB.
    const error = await failure(finetune({ ...base(), data: longData, output, batchSize: 8, seqLen: 16384 }));
    expect(error).toBeInstanceOf(OutOfMemoryError);
    const oom = error as OutOfMemoryError;
    expect(oom.code).toBe('OUT_OF_MEMORY');
    expect(oom.where).toMatch(/^before training/);
    expect(oom.message).toContain('attention scores');
    expect(oom.message).toContain('4 GiB');
    for (const flag of [
      '--batch-size (now 8)',
      '--seq-len (now 16384)',
      '--gradient-checkpointing',
      '--quantize nf4',
    ])
      expect(oom.message).toContain(flag);
    await expect(stat(output)).rejects.toThrow();
  });

  it('sizes the check by the rows, not the --seq-len cap: short rows under a long --seq-len train', async () => {
    // The same settings as above on 24-token rows: batches are padded to their longest row, so a step is small.
    const output = join(dir, 'short-rows');
    const summary = await finetune({ ...base(), output, batchSize: 8, seqLen: 16384 });
    expect(summary.completed).toBe(true);
  });

  it('turns the runtime failing an allocation in a step into an OutOfMemoryError, and the run ends', async () => {
    const output = join(dir, 'in-step');
    // What a wasm heap that cannot grow looks like from JavaScript: the next product traps.
    const config = tf.getKernel('BatchMatMul', 'wasm');
    expect(config).toBeDefined();
    let trapped = 0;
    const originalRun = finetune({
      ...base(),
      output,
      batchSize: 2,
      seqLen: 16,
      callbacks: {
        onStart: () => {
          tf.unregisterKernel('BatchMatMul', 'wasm');
          tf.registerKernel({
            ...config!,
            kernelFunc: () => {
              trapped++;
              throw new WebAssembly.RuntimeError('memory access out of bounds');
            },
          });
        },
      },
    });
    let error: unknown;
    try {
      error = await failure(originalRun);
    } finally {
      tf.unregisterKernel('BatchMatMul', 'wasm');
      tf.registerKernel(config!);
    }
    expect(trapped).toBeGreaterThan(0);
    expect(error).toBeInstanceOf(OutOfMemoryError);
    const oom = error as OutOfMemoryError;
    expect(oom.where).toBe('in training step 1');
    expect(oom.message).toContain('memory access out of bounds');
    expect(oom.message).toContain('--batch-size (now 2)');
    expect((oom.cause as Error).name).toBe('RuntimeError');
  });

  it('recognises the runtime messages that mean out of memory, and nothing else', () => {
    const oom = [
      new WebAssembly.RuntimeError('memory access out of bounds'),
      new WebAssembly.RuntimeError('Aborted(Cannot enlarge memory arrays to size 4294967296 bytes (OOM).)'),
      new RangeError('Array buffer allocation failed'),
      new RangeError('Invalid typed array length: 5000000000'),
      new Error('XNN status for xnn_create_fully_connected_nc_f32 is not successful. Got status 6.'),
    ];
    for (const error of oom) expect(isRuntimeOutOfMemory(error), error.message).toBe(true);
    const other = [
      new Error('Got status 2'),
      new TypeError('x is undefined'),
      new OutOfMemoryError({
        batchSize: 1,
        seqLen: 8,
        gradientCheckpointing: true,
        quantize: 'nf4',
        where: 'x',
        detail: 'y',
      }),
      'memory access out of bounds',
    ];
    for (const error of other) expect(isRuntimeOutOfMemory(error)).toBe(false);
  });

  it('advises only what would lower the memory', () => {
    expect(memoryAdvice({ batchSize: 1, seqLen: 512, gradientCheckpointing: true, quantize: 'nf4' })).toBe(
      'lower --seq-len (now 512)',
    );
    expect(memoryAdvice({ batchSize: 4, seqLen: 256, gradientCheckpointing: false, quantize: 'none' })).toBe(
      'lower --batch-size (now 4), lower --seq-len (now 256), add --gradient-checkpointing, add --quantize nf4',
    );
  });
});
