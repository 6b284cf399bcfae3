import { ConfigError } from '@peft/core';
import { DataFormatError } from '@peft/training';
import { describe, expect, it } from 'vitest';
import { demoTokenizer } from '../test-support/tiny-demo.js';
import { encodeRows, promptExample, rowTexts } from './examples.js';

describe('pronunciation rows', () => {
  it('split into the prompt the model sees and the answer it should give', () => {
    expect(promptExample('enrich: EH0 N R IH1 CH')).toEqual({
      word: 'enrich',
      prompt: 'enrich:',
      expected: 'EH0 N R IH1 CH',
    });
    // Only the first colon splits.
    expect(promptExample("o'clock: AH0 K L AA1 K: x").expected).toBe('AH0 K L AA1 K: x');
    expect(() => promptExample('no colon', 'eval.jsonl')).toThrow(ConfigError);
    expect(() => promptExample(': EH0', 'eval.jsonl')).toThrow(
      /eval\.jsonl: row ": EH0" is not "word: PHONEMES"/,
    );
    expect(rowTexts([{ text: 'a: B' }, { input_ids: [1, 2] }])).toEqual(['a: B']);
  });

  it('encode as BOS, the text, EOS; the prompt is a prefix of its row, so greedy decoding continues the row', () => {
    const tokenizer = demoTokenizer();
    const [ids] = encodeRows(tokenizer, [{ text: 'meaning: M IY1 N IH0 NG' }], {
      eosTokenId: 2,
      maxLength: 64,
      vocabSize: 1024,
      source: 'train.jsonl',
    });
    expect(ids![0]).toBe(1);
    expect(ids!.at(-1)).toBe(2);
    expect(tokenizer.decode(ids!)).toBe('meaning: M IY1 N IH0 NG');
    const prompt = tokenizer.encode('meaning:');
    expect(ids!.slice(0, prompt.length)).toEqual(prompt);
  });

  it('refuse token ids outside the model vocabulary, naming the file and row', () => {
    const encode = () =>
      encodeRows(demoTokenizer(), [{ text: 'a: B' }, { input_ids: [1, 5000] }], {
        eosTokenId: 2,
        maxLength: 64,
        vocabSize: 1024,
        source: 'train.jsonl',
      });
    expect(encode).toThrow(DataFormatError);
    expect(encode).toThrow(/train\.jsonl:2: token id 5000 is outside the vocabulary \(1024\)/);
  });
});
