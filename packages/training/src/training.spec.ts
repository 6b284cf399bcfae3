import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { AdamW } from './adamw.js';
import { BatchSampler, makeBatch } from './batches.js';
import { DataFormatError, parseJsonl, tokenizeRows } from './jsonl.js';
import { learningRateAt } from './schedule.js';
import { useCpuBackend } from './test-support/tf-cpu.js';
import { Trainer } from './trainer.js';

beforeAll(useCpuBackend);

describe('JSONL data', () => {
  it('reads text and input_ids rows and skips blank lines', () => {
    const rows = parseJsonl('{"text": "hello"}\n\n{"input_ids": [1, 2, 3]}\n', 'train.jsonl');
    expect(rows).toEqual([
      { text: 'hello', line: 1 },
      { input_ids: [1, 2, 3], line: 3 },
    ]);
    const ids = tokenizeRows(rows, (t) => [1, ...[...t].map((c) => c.charCodeAt(0) % 50)], { maxLength: 4 });
    expect(ids).toEqual([
      [1, 4, 1, 8],
      [1, 2, 3],
    ]);
  });

  it('names the file and line of a bad row', () => {
    expect(() => parseJsonl('{"text": "ok"}\n{"txt": 1}\n', 'train.jsonl')).toThrow(DataFormatError);
    expect(() => parseJsonl('{"text": "ok"}\n{"txt": 1}\n', 'train.jsonl')).toThrow(
      /train\.jsonl:2: the row matches no accepted format: it has "txt"/,
    );
    expect(() => parseJsonl('{"text": "ok"}\n{oops\n', 'a.jsonl')).toThrow(/a\.jsonl:2: not valid JSON/);
    expect(() => parseJsonl('{"input_ids": [1, -2]}', 'a.jsonl')).toThrow(/non-negative integers/);
    expect(() => parseJsonl('\n\n', 'empty.jsonl')).toThrow(/no examples/);
    expect(() =>
      tokenizeRows([{ input_ids: [5, 900] }], (t) => [t.length], { maxLength: 8, vocabSize: 512 }),
    ).toThrow(/token id 900 is outside the vocabulary/);
  });
});

describe('batches', () => {
  it('right-pads with an attention mask and -100 labels', () => {
    const batch = makeBatch(
      [
        [1, 5, 6],
        [1, 7],
      ],
      0,
      16,
    );
    expect(batch.seqLen).toBe(3);
    expect(Array.from(batch.inputIds)).toEqual([1, 5, 6, 1, 7, 0]);
    expect(Array.from(batch.attentionMask)).toEqual([1, 1, 1, 1, 1, 0]);
    expect(Array.from(batch.labels)).toEqual([1, 5, 6, 1, 7, -100]);
    expect(batch.predictedTokens).toBe(3);
  });

  it('samples every example once per epoch, and a resumed sampler continues identically', () => {
    const a = new BatchSampler(10, 3, 42);
    const epoch0 = [a.next(), a.next(), a.next()].flat();
    expect(new Set(epoch0).size).toBe(9);
    const saved = a.state();
    const rest = [a.next(), a.next(), a.next()];
    const b = new BatchSampler(10, 3, 42, saved);
    expect([b.next(), b.next(), b.next()]).toEqual(rest);
    expect(new BatchSampler(10, 3, 43).next()).not.toEqual(new BatchSampler(10, 3, 42).next());
  });
});

describe('learning-rate schedules', () => {
  it('warms up linearly then decays', () => {
    const s = { peak: 1e-2, warmupSteps: 4, totalSteps: 14 };
    expect(learningRateAt({ ...s, kind: 'constant' }, 0)).toBeCloseTo(2.5e-3, 12);
    expect(learningRateAt({ ...s, kind: 'constant' }, 10)).toBe(1e-2);
    expect(learningRateAt({ ...s, kind: 'linear' }, 9)).toBeCloseTo(5e-3, 12);
    expect(learningRateAt({ ...s, kind: 'cosine' }, 9)).toBeCloseTo(5e-3, 12);
    expect(learningRateAt({ ...s, kind: 'cosine' }, 14)).toBeCloseTo(0, 12);
    expect(() => learningRateAt({ ...s, kind: 'linear', peak: -1 }, 0)).toThrow(/positive/);
  });
});

describe('AdamW', () => {
  it('matches the AdamW update computed by hand', () => {
    const w = tf.variable(tf.tensor1d([1, -2]));
    const opt = new AdamW(new Map([['w', w]]), { weightDecay: 0.1 });
    const g = tf.tensor1d([0.5, 0.25]);
    opt.apply(new Map([['w', g]]), 0.01);
    opt.apply(new Map([['w', g]]), 0.01);
    // Same gradient twice: bias-corrected m = g and v = g², so each step moves by lr * (g/(|g|+eps) + wd*w).
    let ref = [1, -2];
    for (let s = 0; s < 2; s++)
      ref = ref.map((p, i) => p * (1 - 0.01 * 0.1) - 0.01 * ([0.5, 0.25][i]! / ([0.5, 0.25][i]! + 1e-8)));
    const got = Array.from(w.dataSync());
    for (const [i, v] of got.entries()) expect(v).toBeCloseTo(ref[i]!, 6);
    tf.dispose([w, g]);
    opt.dispose();
  });
});

describe('Trainer', () => {
  function quadraticProblem() {
    const w = tf.variable(tf.tensor1d([3, -1, 2]));
    const target = tf.tensor1d([0.5, 0.5, 0.5]);
    const loss = () => tf.sum(tf.square(tf.sub(w, target))) as tf.Scalar;
    return { w, target, loss };
  }
  const schedule = { kind: 'constant' as const, peak: 0.1, warmupSteps: 0, totalSteps: 100 };

  it('reduces the loss, clips the gradient norm, and leaks no tensors across steps or after dispose', () => {
    const { w, target, loss } = quadraticProblem();
    const tensorsBefore = tf.memory().numTensors;
    const trainer = new Trainer({ variables: new Map([['w', w]]), schedule, maxGradNorm: 1 });
    const first = trainer.trainStep(loss);
    const tensorsAfterFirst = tf.memory().numTensors;
    let last = first;
    for (let i = 0; i < 100; i++) last = trainer.trainStep(loss);
    expect(tf.memory().numTensors).toBe(tensorsAfterFirst);
    expect(last.loss).toBeLessThan(first.loss / 100);
    expect(first.gradNorm).toBeCloseTo(2 * Math.sqrt(2.5 ** 2 + 1.5 ** 2 + 1.5 ** 2), 4);
    trainer.dispose();
    expect(tf.memory().numTensors).toBe(tensorsBefore);
    tf.dispose([w, target]);
  });

  it('resumes from saved optimizer state exactly like an uninterrupted run', () => {
    const straight = quadraticProblem();
    const t1 = new Trainer({ variables: new Map([['w', straight.w]]), schedule });
    for (let i = 0; i < 10; i++) t1.trainStep(straight.loss);

    const resumed = quadraticProblem();
    const t2 = new Trainer({ variables: new Map([['w', resumed.w]]), schedule });
    for (let i = 0; i < 5; i++) t2.trainStep(resumed.loss);
    const state = t2.optimizer.stateDict();
    const weights = resumed.w.dataSync().slice();
    t2.dispose();
    resumed.w.assign(tf.tensor1d(weights));
    const t3 = new Trainer({ variables: new Map([['w', resumed.w]]), schedule });
    t3.optimizer.loadStateDict(state);
    for (let i = 0; i < 5; i++) t3.trainStep(resumed.loss);
    expect(t3.step).toBe(10);
    expect(Array.from(resumed.w.dataSync())).toEqual(Array.from(straight.w.dataSync()));
    t1.dispose();
    t3.dispose();
  });

  it('trainStepAsync updates like trainStep (clipping included) without reading synchronously or leaking', async () => {
    const sync = quadraticProblem();
    const queued = quadraticProblem();
    const a = new Trainer({ variables: new Map([['w', sync.w]]), schedule, maxGradNorm: 1 });
    const b = new Trainer({ variables: new Map([['w', queued.w]]), schedule, maxGradNorm: 1 });
    const read = vi.spyOn(tf.Tensor.prototype, 'dataSync');
    let tensorsAfterFirst = 0;
    for (let i = 0; i < 30; i++) {
      const expected = a.trainStep(sync.loss);
      read.mockClear();
      const got = await b.trainStepAsync(queued.loss);
      expect(read).not.toHaveBeenCalled();
      if (i === 0) {
        expect(got.gradNorm).toBeGreaterThan(1); // the first steps are clipped
        tensorsAfterFirst = tf.memory().numTensors;
      }
      expect(got.step).toBe(expected.step);
      expect(got.learningRate).toBe(expected.learningRate);
      expect(got.loss).toBeCloseTo(expected.loss, 5);
      expect(got.gradNorm).toBeCloseTo(expected.gradNorm, 5);
    }
    read.mockRestore();
    expect(tf.memory().numTensors).toBe(tensorsAfterFirst);
    const [wa, wb] = [sync.w.dataSync(), queued.w.dataSync()];
    for (let i = 0; i < 3; i++) expect(wb[i]).toBeCloseTo(wa[i]!, 5);

    const z = tf.variable(tf.scalar(1));
    const c = new Trainer({ variables: new Map([['z', z]]), schedule });
    await expect(c.trainStepAsync(() => tf.div(z, tf.scalar(0)) as tf.Scalar)).rejects.toThrow(
      /training diverged at step 1: the loss is Infinity/,
    );
    // Checked before the update: the variable is untouched.
    expect(z.dataSync()[0]).toBe(1);
    for (const t of [a, b, c]) t.dispose();
    tf.dispose([sync.w, sync.target, queued.w, queued.target, z]);
  });

  it('refuses to train nothing and stops on a non-finite loss', () => {
    expect(() => new Trainer({ variables: new Map(), schedule })).toThrow(/no trainable variables/);
    const w = tf.variable(tf.scalar(1));
    const trainer = new Trainer({ variables: new Map([['w', w]]), schedule });
    expect(() => trainer.trainStep(() => tf.div(w, tf.scalar(0)) as tf.Scalar)).toThrow(
      /training diverged at step 1: the loss is Infinity/,
    );
    expect(w.dataSync()[0]).toBe(1);
    expect(trainer.step).toBe(0);
    trainer.dispose();
    w.dispose();
  });
});
