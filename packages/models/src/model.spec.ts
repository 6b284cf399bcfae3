import { ShapeMismatchError } from '@peft/core';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError } from './errors.js';
import { referenceLogits, referenceLoss, weightsOf } from './test-support/reference-llama.js';
import { useCpuBackend } from './test-support/tf-cpu.js';
import { relativeError, TINY_CONFIGS, tinyModel } from './test-support/tiny-models.js';

beforeAll(useCpuBackend);

const IDS = [3, 17, 9, 1, 22, 5, 30, 8, 11, 2];

describe('forward matches a float64 reference of the transformers forward', () => {
  for (const name of Object.keys(TINY_CONFIGS)) {
    it(name, async () => {
      const { model, raw, dict } = await tinyModel(name);
      const vocab = raw['vocab_size'] as number;
      const ids = IDS.map((id) => id % vocab);
      const expected = referenceLogits(raw, weightsOf(dict), ids);
      const { logits } = model.forward({ inputIds: [ids] });
      expect(logits.shape).toEqual([1, ids.length, vocab]);
      const actual = logits.dataSync();
      logits.dispose();
      model.dispose();
      const flat = Float64Array.from(expected.flatMap((row) => [...row]));
      expect(relativeError(actual, flat)).toBeLessThan(1e-4);
    });
  }

  it('the scaled-rope configs really change the logits (the reference is sensitive to scaling)', async () => {
    const { raw, dict } = await tinyModel('llama dynamic scaling past max_position_embeddings');
    const plain = { ...raw, rope_scaling: null };
    const w = weightsOf(dict);
    const scaled = referenceLogits(raw, w, IDS.slice(0, 10)).flatMap((r) => [...r]);
    const unscaled = referenceLogits(plain, w, IDS.slice(0, 10)).flatMap((r) => [...r]);
    expect(relativeError(scaled, unscaled)).toBeGreaterThan(1e-3);
  });
});

describe('padding and positions', () => {
  let fixture: Awaited<ReturnType<typeof tinyModel>>;
  beforeAll(async () => {
    fixture = await tinyModel('llama GQA untied', 3);
  });
  afterAll(() => fixture.model.dispose());

  const single = (ids: number[]) => {
    const { logits } = fixture.model.forward({ inputIds: [ids] });
    const values = logits.arraySync()[0]!;
    logits.dispose();
    return values;
  };

  it('right padding leaves the real tokens of every row as they are alone', () => {
    const a = [5, 9, 2, 40, 7, 1];
    const b = [8, 3, 6];
    const { logits } = fixture.model.forward({
      inputIds: [a, [...b, 0, 0, 0]],
      attentionMask: [a.map(() => 1), [1, 1, 1, 0, 0, 0]],
    });
    const rows = logits.arraySync();
    logits.dispose();
    expect(relativeError(rows[0]!.flat(), single(a).flat())).toBeLessThan(1e-5);
    expect(relativeError(rows[1]!.slice(0, 3).flat(), single(b).flat())).toBeLessThan(1e-5);
  });

  it('left padding counts positions from the first real token', () => {
    const a = [5, 9, 2, 40, 7, 1];
    const b = [8, 3, 6];
    const { logits } = fixture.model.forward({
      inputIds: [a, [0, 0, 0, ...b]],
      attentionMask: [a.map(() => 1), [0, 0, 0, 1, 1, 1]],
    });
    const rows = logits.arraySync();
    logits.dispose();
    expect(rows.flat(2).every(Number.isFinite)).toBe(true);
    expect(relativeError(rows[1]!.slice(3).flat(), single(b).flat())).toBeLessThan(1e-5);
  });

  it('explicit positionIds are used as given', () => {
    const ids = [4, 8, 15, 16];
    const positions = [3, 4, 5, 6];
    const expected = referenceLogits(fixture.raw, weightsOf(fixture.dict), ids, positions).flatMap((r) => [
      ...r,
    ]);
    const { logits } = fixture.model.forward({ inputIds: [ids], positionIds: [positions] });
    expect(relativeError(logits.dataSync(), expected)).toBeLessThan(1e-4);
    logits.dispose();
  });

  it('logitsToKeep returns the last positions only', () => {
    const ids = [4, 8, 15, 16, 23];
    const { logits } = fixture.model.forward({ inputIds: [ids], logitsToKeep: 2 });
    expect(logits.shape).toEqual([1, 2, 61]);
    expect(relativeError(logits.arraySync()[0]!.flat(), single(ids).slice(3).flat())).toBeLessThan(1e-6);
    logits.dispose();
  });
});

describe('loss', () => {
  it('is the shifted mean cross-entropy over labels that are not -100', async () => {
    const { model, raw, dict } = await tinyModel('qwen2 bias tied theta 1e6', 5);
    const rows = [
      [3, 7, 11, 2, 9, 4],
      [6, 1, 8, 0, 0, 0],
    ];
    const labels = [
      [3, 7, -100, 2, 9, 4],
      [6, 1, 8, -100, -100, -100],
    ];
    const mask = [
      [1, 1, 1, 1, 1, 1],
      [1, 1, 1, 0, 0, 0],
    ];
    const w = weightsOf(dict);
    const reference = referenceLoss(
      [referenceLogits(raw, w, rows[0]!), referenceLogits(raw, w, rows[1]!.slice(0, 3))],
      [labels[0]!, labels[1]!.slice(0, 3)],
    );
    const { loss, logits } = model.forward({ inputIds: rows, attentionMask: mask, labels });
    expect(loss).toBeDefined();
    expect(Math.abs(loss!.dataSync()[0]! - reference)).toBeLessThan(1e-4 * reference);
    tf.dispose([loss!, logits]);
    model.dispose();
  });

  it('is 0, not NaN, when every label is ignored', async () => {
    const { model } = await tinyModel('mistral sliding window');
    const loss = model.loss({ inputIds: [[1, 2, 3]], labels: [[-100, -100, -100]] });
    expect(loss.dataSync()[0]).toBe(0);
    loss.dispose();
    model.dispose();
  });
});

describe('bad input', () => {
  let fixture: Awaited<ReturnType<typeof tinyModel>>;
  beforeAll(async () => {
    fixture = await tinyModel('mistral sliding window', 8);
  });
  afterAll(() => fixture.model.dispose());

  it.each([
    [{ inputIds: [[1, 2], [3]] }, ShapeMismatchError, /inputIds row 1 has 1 entries; every row needs 2/],
    [{ inputIds: [[1, 40]] }, InputError, /inputIds\[0\]\[1\] = 40 is outside \[0, 40\)/],
    [{ inputIds: [[1, 2.5]] }, InputError, /inputIds\[0\]\[1\] = 2.5 is not a 32-bit integer/],
    [{ inputIds: [] }, InputError, /inputIds is empty/],
    [
      { inputIds: [[1, 2]], attentionMask: [[1, 2]] },
      InputError,
      /attentionMask\[0\]\[1\] = 2 is outside \[0, 2\)/,
    ],
    [
      { inputIds: [[1, 2]], attentionMask: [[1, 1, 1]] },
      ShapeMismatchError,
      /attentionMask is \[1, 3\] but inputIds is \[1, 2\]/,
    ],
    [
      { inputIds: [[1, 2]], labels: [[1, -1]] },
      InputError,
      /labels\[0\]\[1\] = -1 is outside \[0, 40\) or -100/,
    ],
    [
      { inputIds: [[1, 2]], labels: [[1, 2]], logitsToKeep: 1 },
      InputError,
      /do not combine them with logitsToKeep/,
    ],
  ])('%j', (input, type, message) => {
    const before = tf.memory().numTensors;
    expect(() => fixture.model.forward(input as never)).toThrow(type);
    expect(() => fixture.model.forward(input as never)).toThrow(message);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('rejects float and empty tensors and a cache of another batch size', () => {
    const floats = tf.tensor2d([[1, 2]]);
    expect(() => fixture.model.forward({ inputIds: floats as tf.Tensor2D })).toThrow(
      /inputIds must be an int32 tensor, got float32/,
    );
    const empty = tf.tensor2d([], [1, 0], 'int32');
    expect(() => fixture.model.forward({ inputIds: empty as tf.Tensor2D })).toThrow(InputError);
    const cache = fixture.model.createCache(2);
    expect(() => fixture.model.forward({ inputIds: [[1]], cache })).toThrow(
      /the cache holds 2 rows but inputIds has 1/,
    );
    tf.dispose([floats, empty]);
  });
});
