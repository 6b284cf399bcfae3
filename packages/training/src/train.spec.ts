import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { MemoryCheckpointStore } from './checkpoint-store.js';
import { evaluate } from './evaluate.js';
import { bigramModel, countingSequences } from './test-support/bigram-model.js';
import { useCpuBackend } from './test-support/tf-cpu.js';
import { findResumePoint, ResumeError, train } from './train.js';
import { resolveTrainingArguments } from './training-arguments.js';

beforeAll(useCpuBackend);

const VOCAB = 7;
const data = countingSequences(VOCAB, 12, 6);
const args = (steps: number, more: Partial<Parameters<typeof resolveTrainingArguments>[0]> = {}) =>
  resolveTrainingArguments(
    { steps, batchSize: 3, seqLen: 6, learningRate: 0.1, seed: 5, saveEvery: 0, ...more },
    {
      learningRate: 1e-3,
      maxPositions: 64,
    },
  );

async function tableBytes(model: ReturnType<typeof bigramModel>): Promise<Uint8Array> {
  return new Uint8Array((await model.table.data()).slice().buffer);
}

describe('train()', () => {
  it('lowers the held-out loss of a model it knows only through TrainableModel', async () => {
    const model = bigramModel(VOCAB);
    const evalOptions = { batchSize: 4, seqLen: 6, padTokenId: 0 };
    const before = await evaluate(model, data, evalOptions);
    const result = await train({ model, train: data, eval: data, padTokenId: 0, args: args(30) });
    expect(result.completed).toBe(true);
    expect(result.eval!.loss).toBeLessThan(before.loss - 1);
    expect(before.loss).toBeCloseTo(Math.log(VOCAB), 5);
    model.dispose();
  });

  it('stopped by an AbortSignal and resumed from an in-memory store, ends bit-identical to a straight run', async () => {
    const straight = bigramModel(VOCAB, { dropout: 0.2, seed: 1 });
    await train({
      model: straight,
      train: data,
      padTokenId: 0,
      args: args(8),
      store: new MemoryCheckpointStore(),
    });

    const store = new MemoryCheckpointStore('run');
    const first = bigramModel(VOCAB, { dropout: 0.2, seed: 1 });
    const controller = new AbortController();
    const stopped = await train({
      model: first,
      train: data,
      padTokenId: 0,
      args: args(8),
      store,
      signal: controller.signal,
      callbacks: { onStep: (p) => p.step === 3 && controller.abort() },
    });
    expect(stopped).toMatchObject({ completed: false, step: 3, checkpoint: 'run:checkpoint-3' });
    expect(await store.list()).toEqual([3]);

    // A fresh process: the model is rebuilt from the checkpoint's files, then the run continues.
    const resumeFrom = await findResumePoint(store, args(8));
    expect(resumeFrom!.state.adapter_random).toEqual({ draws: 3 });
    const second = bigramModel(VOCAB, { dropout: 0.2, seed: 1 });
    const saved = resumeFrom!.files.get('table.bin')!;
    second.table.assign(tf.tensor2d(new Float32Array(saved.slice().buffer), [VOCAB, VOCAB]));
    const resumed = await train({
      model: second,
      train: data,
      padTokenId: 0,
      args: args(8),
      store,
      resumeFrom,
    });
    expect(resumed).toMatchObject({ completed: true, step: 8 });
    expect(Buffer.compare(await tableBytes(second), await tableBytes(straight))).toBe(0);
    for (const m of [straight, first, second]) m.dispose();
  });

  it('refuses to resume a checkpoint of other settings, naming what differs', async () => {
    const store = new MemoryCheckpointStore();
    const model = bigramModel(VOCAB);
    await train({ model, train: data, padTokenId: 0, args: args(2), store, run: { data: 'a' } });
    await expect(findResumePoint(store, args(2, { learningRate: 0.2 }), { data: 'a' })).rejects.toThrow(
      /learningRate: 0.1 -> 0.2/,
    );
    await expect(findResumePoint(store, args(2), { data: 'b' })).rejects.toBeInstanceOf(ResumeError);
    model.dispose();
  });

  it('refuses optimizer state holding NaN instead of training on it', async () => {
    const store = new MemoryCheckpointStore();
    const model = bigramModel(VOCAB);
    const controller = new AbortController();
    await train({
      model,
      train: data,
      padTokenId: 0,
      args: args(4),
      store,
      signal: controller.signal,
      callbacks: { onStep: () => controller.abort() },
    });
    const checkpoint = (await findResumePoint(store, args(4)))!;
    const [name, moment] = [...checkpoint.optimizer].find(([, t]) => t.dtype === 'F32')!;
    new Float32Array(moment.data.buffer, moment.data.byteOffset, 1)[0] = Number.NaN;
    await expect(
      train({ model, train: data, padTokenId: 0, args: args(4), resumeFrom: checkpoint }),
    ).rejects.toThrow(new RegExp(`optimizer state ${name.replace(/[.[\]]/g, '\\$&')} holds NaN`));
    model.dispose();
  });

  it('keeps the tensor count flat over steps, evaluations and checkpoints, and leaves nothing behind', async () => {
    const model = bigramModel(VOCAB, { dropout: 0.1 });
    const before = tf.memory().numTensors;
    const counts: number[] = [];
    await train({
      model,
      train: data,
      eval: data,
      padTokenId: 0,
      args: args(6, { evalEvery: 2, saveEvery: 3 }),
      store: new MemoryCheckpointStore(),
      callbacks: { onStep: (p) => counts.push(p.tfTensors) },
    });
    expect(new Set(counts).size).toBe(1);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });
});
