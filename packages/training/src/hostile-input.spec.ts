// Bad or hostile input to the browser-safe core: huge JSONL lines, invalid UTF-8, blank lines before a
// bad row, sampler states that cannot belong to the data, batches with nothing to predict, divergence.
import { llamaTokenizerJson, TextTokenizer } from '@peft/models';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { BatchSampler, checkSamplerState, SamplerStateError } from './batches.js';
import { checkTrainerState, MemoryCheckpointStore, TRAINER_STATE_FORMAT } from './checkpoint-store.js';
import { DataFormatError, decodeJsonl, MAX_JSONL_LINE_CHARS, parseJsonl, tokenizeRows } from './jsonl.js';
import { bigramModel, countingSequences } from './test-support/bigram-model.js';
import { useCpuBackend } from './test-support/tf-cpu.js';
import { train } from './train.js';
import { Trainer } from './trainer.js';
import { resolveTrainingArguments } from './training-arguments.js';
import { isTrainingDiverged, TrainingDivergedError } from './training-diverged.js';
import { encodeTruncated, PREFIX_MARGIN_TOKENS } from './truncated-encode.js';

beforeAll(useCpuBackend);

/** Deterministic prose of about `chars` characters from a small word list. */
function prose(chars: number, seed = 1): string {
  const words = ['the', 'cat', 'sat', 'on', 'mat', 'a', 'dog', 'ran', 'in', 'park', 'thee', 'there', 'sun,'];
  let s = seed >>> 0;
  const out: string[] = [];
  let length = 0;
  while (length < chars) {
    s = (s * 1664525 + 1013904223) >>> 0;
    const word = words[s % words.length]!;
    out.push(word);
    length += word.length + 1;
  }
  return out.join(' ');
}

/** A word-level tokenizer (BOS, one id per word): linear time, so a multi-megabyte reference is cheap. */
function wordEncoder(): { encode: (text: string) => number[]; chars: () => number } {
  let chars = 0;
  const ids = new Map<string, number>();
  return {
    encode(text) {
      chars += text.length;
      return [
        1,
        ...text
          .split(' ')
          .filter(Boolean)
          .map((w) => {
            if (!ids.has(w)) ids.set(w, ids.size + 3);
            return ids.get(w)!;
          }),
      ];
    },
    chars: () => chars,
  };
}

/** A Llama-style BPE with merges (so tokens depend on their neighbours) over lower-case letters. */
function bpeTokenizer(): TextTokenizer {
  const vocab: Record<string, number> = { '<unk>': 0, '<s>': 1, '</s>': 2, '▁': 3, ',': 4 };
  for (const c of 'abcdefghijklmnopqrstuvwxyz') vocab[c] = Object.keys(vocab).length;
  const merges = [
    't h',
    'th e',
    '▁ the',
    'a t',
    '▁ a',
    'e r',
    'th er',
    'the e',
    '▁the e',
    'a r',
    'p ar',
    'par k',
    'o n',
    '▁ on',
  ];
  for (const m of merges) {
    const token = m.replace(' ', '');
    if (!(token in vocab)) vocab[token] = Object.keys(vocab).length;
  }
  return new TextTokenizer(llamaTokenizerJson({ vocab, merges, byteFallback: false }));
}

describe('a long line is tokenized only as far as the tokens kept', () => {
  it('a multi-megabyte line: the first seqLen tokens of the whole text, from a bounded prefix', () => {
    const text = prose(6_000_000);
    for (const seqLen of [1, 32, 1000]) {
      const reference = wordEncoder().encode(text).slice(0, seqLen);
      const counted = wordEncoder();
      expect(encodeTruncated(text, counted.encode, seqLen)).toEqual(reference);
      // 8 characters per wanted token first; these words average 4.
      expect(counted.chars()).toBeLessThanOrEqual((seqLen + PREFIX_MARGIN_TOKENS) * 8);
    }
    // The work does not grow with the line.
    const short = wordEncoder();
    const long = wordEncoder();
    encodeTruncated(prose(100_000), short.encode, 32);
    encodeTruncated(text, long.encode, 32);
    expect(long.chars()).toBe(short.chars());
  });

  it('grows the prefix where tokens span many characters, still bounded by what they span', () => {
    const text = `${' '.repeat(50_000)}${prose(2_000_000)}`;
    const counted = wordEncoder();
    expect(encodeTruncated(text, counted.encode, 16)).toEqual(wordEncoder().encode(text).slice(0, 16));
    // Doubling from 384 characters: at most 2 x (the 50,000 blank characters + the tokens' words) twice over.
    expect(counted.chars()).toBeLessThan(4 * 52_000);
  });

  it('equals tokenizing the whole text with a real BPE with merges (and EOS appended)', () => {
    const tokenizer = bpeTokenizer();
    const text = prose(40_000, 7);
    const encode = (t: string) => [...tokenizer.encode(t), 2];
    const whole = encode(text);
    for (const seqLen of [2, 17, 64, 500]) {
      expect(encodeTruncated(text, encode, seqLen)).toEqual(whole.slice(0, seqLen));
    }
    // A text shorter than the first prefix is encoded whole, EOS included.
    expect(encodeTruncated('the cat', encode, 100)).toEqual(encode('the cat'));
  });

  it('never splits a surrogate pair', () => {
    const text = '😀'.repeat(100_000);
    const seen: string[] = [];
    const ids = encodeTruncated(
      text,
      (t) => {
        seen.push(t);
        return [...t].map((c) => c.codePointAt(0)!);
      },
      10,
    );
    expect(ids).toEqual(Array(10).fill(0x1f600));
    for (const t of seen) expect(/[\ud800-\udbff](?![\udc00-\udfff])/.test(t)).toBe(false);
  });

  it('a line above the hard limit is refused naming its line', () => {
    const huge = JSON.stringify({ text: 'x'.repeat(MAX_JSONL_LINE_CHARS) });
    const content = `{"text": "ok"}\n\n${huge}\n`;
    expect(() => parseJsonl(content, 'big.jsonl')).toThrow(DataFormatError);
    expect(() => parseJsonl(content, 'big.jsonl')).toThrow(
      /^big\.jsonl:3: the line is 16777227 characters long; lines of at most 16777216 are read/,
    );
  });
});

describe('physical line numbers and UTF-8', () => {
  it('errors found after parsing name the line an editor shows, blank lines counted', () => {
    const rows = parseJsonl('\n{"text": "ok"}\n\n\n{"input_ids": [1, 999]}\n', 'gaps.jsonl');
    expect(rows.map((r) => r.line)).toEqual([2, 5]);
    expect(() =>
      tokenizeRows(rows, () => [1, 2], { maxLength: 8, vocabSize: 50, source: 'gaps.jsonl' }),
    ).toThrow(/^gaps\.jsonl:5: token id 999 is outside the vocabulary \(50\)/);
  });

  it('invalid UTF-8 is refused naming the line, valid text decodes as before (BOM kept)', () => {
    const enc = new TextEncoder();
    const good = enc.encode('\ufeff{"text": "héllo"}\n\n{"text": "😀"}\n');
    expect(decodeJsonl(good, 'a.jsonl')).toBe(Buffer.from(good).toString('utf8'));
    const bad = new Uint8Array([
      ...enc.encode('{"text": "a"}\n\n\n{"text": "'),
      0xc3,
      0x28,
      ...enc.encode('"}\n'),
    ]);
    expect(() => decodeJsonl(bad, 'a.jsonl')).toThrow(DataFormatError);
    expect(() => decodeJsonl(bad, 'a.jsonl')).toThrow(/^a\.jsonl:4: is not valid UTF-8/);
    // A truncated multi-byte sequence at the very end of the file.
    expect(() =>
      decodeJsonl(new Uint8Array([...enc.encode('{"text": "a"}\n'), 0xe2, 0x82]), 'b.jsonl'),
    ).toThrow(/^b\.jsonl:2: is not valid UTF-8/);
  });
});

describe('sampler states read from a checkpoint', () => {
  const data = { size: 10, batchSize: 3, seed: 42 };

  it('accepts every state a run writes', () => {
    const sampler = new BatchSampler(10, 3, 42);
    for (let i = 0; i < 20; i++) {
      sampler.next();
      expect(() => checkSamplerState(sampler.state(), data, 'x')).not.toThrow();
    }
    // A batch larger than the data.
    const big = new BatchSampler(2, 4, 1);
    big.next();
    expect(() => new BatchSampler(2, 4, 1, big.state(), 'x')).not.toThrow();
  });

  it.each([
    [{ seed: 42, epoch: 0, position: 1e9 }, /sampler position 1000000000 is not a batch boundary/],
    [{ seed: 42, epoch: 0, position: -3 }, /sampler position -3/],
    [
      { seed: 42, epoch: 0, position: 4 },
      /sampler position 4 is not a batch boundary \(a multiple of 3\) within the 10/,
    ],
    [{ seed: 42, epoch: 0, position: 12 }, /sampler position 12/],
    [{ seed: 42, epoch: -1, position: 0 }, /sampler epoch -1/],
    [{ seed: 42, epoch: 0.5, position: 0 }, /sampler epoch 0\.5/],
    [{ seed: 7, epoch: 0, position: 0 }, /sampler seed 7 is not the run's seed 42/],
    [{ seed: 42, epoch: 0, position: '3' }, /sampler position "3"/],
  ])('refuses %j naming trainer_state.json', (state, message) => {
    const make = () => new BatchSampler(10, 3, 42, state as never, 'out/checkpoint-4: trainer_state.json');
    expect(make).toThrow(SamplerStateError);
    expect(make).toThrow(message);
    expect(make).toThrow(/^out\/checkpoint-4: trainer_state\.json: /);
    try {
      make();
    } catch (error) {
      expect((error as SamplerStateError).code).toBe('RESUME');
    }
  });

  it('checkTrainerState refuses damaged numbers naming the file', () => {
    const valid = {
      format: TRAINER_STATE_FORMAT,
      version: 1,
      global_step: 4,
      max_steps: 10,
      sampler: { seed: 42, epoch: 1, position: 3 },
      adapter_random: null,
      tokens_seen: 100,
      fingerprint: 'f',
      run: {},
      log_history: [],
    };
    expect(checkTrainerState(valid, 4, 'c/trainer_state.json')).toBe(valid);
    for (const [patch, message] of [
      [{ sampler: { seed: 42, epoch: 5, position: 3 } }, /"sampler\.epoch" 5 is not an integer from 0 to 4/],
      [{ sampler: { seed: 42, epoch: 0, position: -1 } }, /"sampler\.position" -1/],
      [{ sampler: null }, /"sampler" is missing/],
      [{ tokens_seen: Number.NaN }, /"tokens_seen" null/],
      [{ log_history: {} }, /"log_history" is not a list/],
    ] as const) {
      expect(() => checkTrainerState({ ...valid, ...patch }, 4, 'c/trainer_state.json')).toThrow(
        new RegExp(`^c/trainer_state\\.json: .*${message.source}`),
      );
    }
  });
});

describe('Trainer: nothing to predict, and divergence caught before the update', () => {
  const schedule = { kind: 'constant' as const, peak: 0.1, warmupSteps: 0, totalSteps: 100 };

  it('a loss that uses no variable (a batch of rows that predict nothing) is a step that changes nothing', async () => {
    const w = tf.variable(tf.tensor1d([1, 2]));
    const trainer = new Trainer({ variables: new Map([['w', w]]), schedule, weightDecay: 0.1 });
    const result = await trainer.trainStepAsync(() => tf.scalar(0));
    expect(result).toMatchObject({ step: 1, loss: 0, gradNorm: 0 });
    expect(Array.from(w.dataSync())).toEqual([1, 2]);
    expect(trainer.trainStep(() => tf.scalar(0)).step).toBe(2);
    trainer.dispose();
    w.dispose();
  });

  it('a non-finite gradient leaves the variables and the moments as they were', async () => {
    const w = tf.variable(tf.tensor1d([0.5, 0]));
    const trainer = new Trainer({ variables: new Map([['w', w]]), schedule });
    await trainer.trainStepAsync(() => tf.sum(tf.square(w)) as tf.Scalar);
    const before = { w: Array.from(w.dataSync()), moments: trainer.optimizer.stateDict() };
    const tensors = tf.memory().numTensors;
    // d sqrt(x)/dx at 0 is infinite; the loss itself is finite.
    const error = await trainer
      .trainStepAsync(() => tf.sum(tf.sqrt(tf.abs(w))) as tf.Scalar)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TrainingDivergedError);
    expect(isTrainingDiverged(error)).toBe(true);
    expect(error).toMatchObject({ code: 'TRAINING_DIVERGED', step: 2, what: 'gradient norm' });
    expect(Array.from(w.dataSync())).toEqual(before.w);
    expect(trainer.optimizer.stateDict()).toEqual(before.moments);
    expect(trainer.step).toBe(1);
    expect(tf.memory().numTensors).toBe(tensors);
    trainer.dispose();
    w.dispose();
  });

  it('an update that overflows the variables stops the run', () => {
    const w = tf.variable(tf.tensor1d([-3e38]));
    const trainer = new Trainer({
      variables: new Map([['w', w]]),
      schedule: { ...schedule, peak: 3e38 },
    });
    expect(() => trainer.trainStep(() => tf.sum(w) as tf.Scalar)).toThrow(
      /training diverged at step 1: the update is not finite at learning rate 3e\+38/,
    );
    trainer.dispose();
    w.dispose();
  });
});

describe('train() stops on divergence and keeps the last good checkpoint', () => {
  it('names the checkpoint to continue from and saves nothing after it', async () => {
    const model = bigramModel(7);
    const store = new MemoryCheckpointStore('run');
    let calls = 0;
    const poisoned = {
      ...model,
      loss: (batch: Parameters<typeof model.loss>[0]) => {
        const loss = model.loss(batch);
        if (++calls < 4) return loss;
        // A NaN that reaches the gradients too, as an overflow in the forward pass would.
        return tf.tidy(() => tf.mul(loss, tf.scalar(Number.NaN))) as tf.Scalar;
      },
    };
    const args = resolveTrainingArguments(
      { steps: 10, batchSize: 3, seqLen: 6, learningRate: 0.1, seed: 5, saveEvery: 2 },
      { learningRate: 1e-3, maxPositions: 64 },
    );
    const error = await train({
      model: poisoned,
      train: countingSequences(7, 12, 6),
      padTokenId: 0,
      args,
      store,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TrainingDivergedError);
    expect(error).toMatchObject({ step: 4, what: 'loss', checkpoint: 'run:checkpoint-2' });
    expect(String(error)).toMatch(
      /training diverged at step 4: the loss is NaN at learning rate 0\.07939 \(peak 0\.1\); the update was not applied and nothing was saved\. run:checkpoint-2 is the last good checkpoint: train its adapter further with a lower learning rate \(peft finetune --adapter run:checkpoint-2 --lr 0\.01\)/,
    );
    expect(await store.list()).toEqual([2]);
    model.dispose();
  });
});
