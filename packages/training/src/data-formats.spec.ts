import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '@peft/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeBatch } from './batches.js';
import { evaluate } from './evaluate.js';
import { DataFormatError, parseDataRows, parseJsonl, tokenizeExamples } from './jsonl.js';
import { readDataset, resolveDataFiles } from './node/dataset.js';
import { bigramModel } from './test-support/bigram-model.js';
import { useCpuBackend } from './test-support/tf-cpu.js';
import { train } from './train.js';
import { resolveTrainingArguments } from './training-arguments.js';

beforeAll(useCpuBackend);

/** BOS 1, then one id per character (its code minus 90): h=14, i=15, o=21, y=31. EOS is 2. */
const charEncode = (text: string) => [1, ...[...text].map((c) => c.charCodeAt(0) - 90)];
/** As charEncode, but "ab" is one token (50): a token that can straddle a prompt-completion seam. */
const mergingEncode = (text: string) => [
  1,
  ...(text.match(/ab|./g) ?? []).map((piece) => (piece === 'ab' ? 50 : piece.charCodeAt(0) - 90)),
];
const EOS = 2;

describe('prompt-completion rows', () => {
  it('learns the completion and EOS only', () => {
    const rows = parseDataRows('{"prompt": "hi", "completion": "yo"}\n', 'pc.jsonl');
    expect(rows).toEqual([{ prompt: 'hi', completion: 'yo', line: 1 }]);
    const [example] = tokenizeExamples(rows, charEncode, { maxLength: 16, eosTokenId: EOS });
    expect(example).toEqual({ inputIds: [1, 14, 15, 31, 21, 2], labels: [-100, -100, -100, 31, 21, 2] });
  });

  it('takes the boundary as mlx-lm does: the first encode(prompt).length tokens of encode(prompt + completion)', () => {
    // "xa" + "bc" encodes as [BOS, x, ab, c]; the prompt alone as [BOS, x, a]: 3 tokens, so "ab" counts as prompt.
    const [example] = tokenizeExamples([{ prompt: 'xa', completion: 'bc' }], mergingEncode, {
      maxLength: 16,
      eosTokenId: EOS,
    });
    expect(example).toEqual({ inputIds: [1, 30, 50, 9, 2], labels: [-100, -100, -100, 9, 2] });
  });

  it('cuts to maxLength (no EOS after a cut), and refuses a row whose completion is cut away', () => {
    const row = { prompt: 'hi', completion: 'yo', line: 7 };
    const [cut] = tokenizeExamples([row], charEncode, { maxLength: 4, eosTokenId: EOS });
    expect(cut).toEqual({ inputIds: [1, 14, 15, 31], labels: [-100, -100, -100, 31] });
    const tooShort = () =>
      tokenizeExamples([row], charEncode, { maxLength: 3, eosTokenId: EOS, source: 'pc.jsonl' });
    expect(tooShort).toThrow(DataFormatError);
    expect(tooShort).toThrow(/pc\.jsonl:7: the prompt takes all 3 tokens .* none of the completion is left/);
  });

  it('are refused by parseJsonl, which returns text and input_ids rows only', () => {
    expect(() => parseJsonl('{"text": "a"}\n{"prompt": "hi", "completion": "yo"}\n', 'pc.jsonl')).toThrow(
      /pc\.jsonl:2: a prompt-completion row, which this reader does not take/,
    );
  });

  it('needs both strings', () => {
    expect(() => parseDataRows('{"prompt": "hi"}', 'pc.jsonl')).toThrow(
      /pc\.jsonl:1: a prompt-completion row needs both "prompt" and "completion" strings/,
    );
  });
});

describe('input_ids rows with labels', () => {
  it('keeps given labels, -100 included, and cuts them with the ids', () => {
    const rows = parseJsonl('{"input_ids": [1, 5, 6, 7], "labels": [-100, -100, 6, 7]}\n', 'ids.jsonl');
    expect(rows).toEqual([{ input_ids: [1, 5, 6, 7], labels: [-100, -100, 6, 7], line: 1 }]);
    expect(tokenizeExamples(rows, charEncode, { maxLength: 3 })).toEqual([
      { inputIds: [1, 5, 6], labels: [-100, -100, 6] },
    ]);
  });

  it('refuses labels of another length, negative labels other than -100, and labels outside the vocabulary', () => {
    expect(() => parseJsonl('{"input_ids": [1, 5], "labels": [5]}', 'ids.jsonl')).toThrow(
      /ids\.jsonl:1: "labels" has 1 entries and "input_ids" 2/,
    );
    expect(() => parseJsonl('{"input_ids": [1, 5], "labels": [-1, 5]}', 'ids.jsonl')).toThrow(
      /"labels" must be an array of non-negative integers or -100/,
    );
    expect(() =>
      tokenizeExamples([{ input_ids: [1, 5], labels: [-100, 70], line: 4 }], charEncode, {
        maxLength: 8,
        vocabSize: 64,
        source: 'ids.jsonl',
      }),
    ).toThrow(/ids\.jsonl:4: token id 70 is outside the vocabulary \(64\)/);
  });
});

describe('rows of no accepted format', () => {
  it('name the keys they have and the formats accepted', () => {
    const parse = () => parseJsonl('{"text": "ok"}\n{"msgs": [], "id": 3}\n', 'chat.jsonl');
    expect(parse).toThrow(DataFormatError);
    expect(parse).toThrow(
      /chat\.jsonl:2: the row matches no accepted format: it has "msgs", "id"; give .*\{"prompt": \.\.\., "completion": \.\.\.\}/,
    );
  });
});

describe('labels through batches, evaluation and training', () => {
  const promptCompletion = { inputIds: [1, 14, 15, 31, 21, 2], labels: [-100, -100, -100, 31, 21, 2] };

  it('makeBatch takes labels from the example, the input ids otherwise, -100 on padding', () => {
    const batch = makeBatch([promptCompletion, [1, 5, 6]], 0, 16);
    expect(batch.seqLen).toBe(6);
    expect(Array.from(batch.labels)).toEqual([-100, -100, -100, 31, 21, 2, 1, 5, 6, -100, -100, -100]);
    expect(Array.from(batch.attentionMask)).toEqual([1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0]);
    // Labelled tokens after the first: 3 of the completion, 2 of the plain row.
    expect(batch.predictedTokens).toBe(5);
  });

  it('evaluation counts only labelled tokens', async () => {
    const model = bigramModel(64);
    try {
      // An all-zero table predicts uniformly: every counted token costs ln(64).
      const result = await evaluate(
        model,
        [promptCompletion, { inputIds: [1, 5, 6, 7], labels: [-100, -100, -100, 7] }],
        {
          batchSize: 1,
          seqLen: 16,
          padTokenId: 0,
        },
      );
      expect(result.tokens).toBe(4);
      expect(result.loss).toBeCloseTo(Math.log(64), 5);
    } finally {
      model.dispose();
    }
  });

  it('training learns nothing from the prompt part', async () => {
    const model = bigramModel(32);
    try {
      // Only the transition 3 -> 4 is labelled; the prompt's 0 -> 1 -> 2 -> 3 are not.
      const example = { inputIds: [0, 1, 2, 3, 4], labels: [-100, -100, -100, -100, 4] };
      const args = resolveTrainingArguments(
        { steps: 3, batchSize: 1, seqLen: 8, learningRate: 0.1, weightDecay: 0, evalEvery: 0, saveEvery: 0 },
        { learningRate: 0.1, maxPositions: 8 },
      );
      await train({ model, train: [example], padTokenId: 0, args });
      const table = (await model.table.array()) as number[][];
      for (const promptToken of [0, 1, 2]) expect(table[promptToken]!.every((v) => v === 0)).toBe(true);
      expect(table[3]![4]!).toBeGreaterThan(0);
    } finally {
      model.dispose();
    }
  });
});

describe('data files and folders', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'peft-data-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const tokenizer = { encode: charEncode };
  const options = { tokenizer, vocabSize: 64, maxLength: 16, eosTokenId: EOS };

  it('a folder is train.jsonl, with valid.jsonl as held-out data', async () => {
    const folder = join(dir, 'with-valid');
    await mkdir(folder);
    await writeFile(join(folder, 'train.jsonl'), '{"prompt": "hi", "completion": "yo"}\n');
    await writeFile(join(folder, 'valid.jsonl'), '{"text": "hi"}\n');
    expect(await resolveDataFiles(folder)).toEqual({
      train: join(folder, 'train.jsonl'),
      valid: join(folder, 'valid.jsonl'),
      test: null,
    });
    await writeFile(join(folder, 'test.jsonl'), '{"text": "yo"}\n');
    expect((await resolveDataFiles(folder)).test).toBe(join(folder, 'test.jsonl'));
    const set = await readDataset(folder, options);
    expect(set.path).toBe(join(folder, 'train.jsonl'));
    expect(set.examples).toEqual([
      { inputIds: [1, 14, 15, 31, 21, 2], labels: [-100, -100, -100, 31, 21, 2] },
    ]);
    expect(set.sequences).toEqual([[1, 14, 15, 31, 21, 2]]);
    const file = join(folder, 'train.jsonl');
    expect(await resolveDataFiles(file)).toEqual({ train: file, valid: null, test: null });
  });

  it('a folder without train.jsonl is refused', async () => {
    const folder = join(dir, 'empty');
    await mkdir(folder);
    await expect(resolveDataFiles(folder)).rejects.toThrow(ConfigError);
    await expect(readDataset(folder, options)).rejects.toThrow(/has no train\.jsonl/);
  });

  it('skips rows with no label after the first, and refuses a file of only those', async () => {
    const file = join(dir, 'masked.jsonl');
    await writeFile(
      file,
      '{"input_ids": [1, 5, 6], "labels": [1, -100, -100]}\n{"input_ids": [1, 5, 6], "labels": [-100, -100, 6]}\n',
    );
    const set = await readDataset(file, options);
    expect(set.skippedLines).toEqual([1]);
    expect(set.lines).toEqual([2]);
    await writeFile(file, '{"input_ids": [1, 5, 6], "labels": [1, -100, -100]}\n');
    await expect(readDataset(file, options)).rejects.toThrow(/no label after the first/);
  });
});
