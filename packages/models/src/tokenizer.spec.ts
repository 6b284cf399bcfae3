import { ConfigError } from '@peft/core';
import { describe, expect, it } from 'vitest';
import { TextTokenizer } from './tokenizer.js';
import { llamaTokenizerJson } from './tokenizer-json.js';

/**
 * A small tokenizer.json laid out as transformers' LlamaConverter writes one: SentencePiece-style
 * BPE with `byte_fallback`, "▁" for spaces, BOS added by a template post-processor.
 */
function llamaStyleTokenizer(): Record<string, unknown> {
  const vocab: Record<string, number> = { '<unk>': 0, '<s>': 1, '</s>': 2 };
  for (let b = 0; b < 256; b++) vocab[`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`] = 3 + b;
  const pieces = [
    '▁',
    'h',
    'e',
    'l',
    'o',
    'w',
    'r',
    'd',
    'é',
    'he',
    'll',
    '▁he',
    '▁hell',
    'o▁',
    'x',
    'or',
    '▁w',
    '▁wor',
    'ld',
    '▁world',
  ];
  for (const p of pieces) vocab[p] = Object.keys(vocab).length;
  const merges = ['h e', 'l l', '▁ he', '▁he ll', 'o r', '▁ w', '▁w or', 'l d', '▁wor ld'];
  return llamaTokenizerJson({ vocab, merges });
}

describe('TextTokenizer on a Llama-style tokenizer.json', () => {
  const tokenizer = new TextTokenizer(llamaStyleTokenizer(), {
    legacy: true,
    clean_up_tokenization_spaces: false,
  });
  const id = (piece: string) => tokenizer.tokenToId(piece)!;

  it('applies the merges and adds BOS', () => {
    expect(tokenizer.encode('hello world')).toEqual([1, id('▁hell'), id('o'), id('▁world')]);
    expect(tokenizer.encode('hello world', { addSpecialTokens: false })).toEqual([
      id('▁hell'),
      id('o'),
      id('▁world'),
    ]);
  });

  it('falls back to UTF-8 bytes for characters outside the vocabulary and decodes them back', () => {
    const text = 'hé ∑ 😀 world';
    const ids = tokenizer.encode(text, { addSpecialTokens: false });
    // é is in the vocabulary; ∑ (3 bytes) and 😀 (4 bytes) are not, so they become byte tokens.
    expect(ids).toContain(id('é'));
    const sum = [0xe2, 0x88, 0x91].map((b) => 3 + b);
    expect(ids.join(',')).toContain(sum.join(','));
    expect(ids.filter((i) => i >= 3 && i < 259)).toHaveLength(3 + 4);
    expect(tokenizer.decode(ids)).toBe(text);
  });

  it('round-trips text through encode and decode, dropping special tokens unless asked', () => {
    for (const text of ['hello', 'world hello', 'où est le monde ?', 'tab\tand\nnewline']) {
      expect(tokenizer.decode(tokenizer.encode(text))).toBe(text);
    }
    expect(tokenizer.decode([1, id('▁hell'), id('o')], { skipSpecialTokens: false })).toBe('<s> hello');
    expect(tokenizer.decode([])).toBe('');
  });

  it('keeps the files it was built from and counts the vocabulary', () => {
    expect(tokenizer.vocabSize).toBe(3 + 256 + 20);
    expect((tokenizer.files.tokenizer as { model: { type: string } }).model.type).toBe('BPE');
  });

  it('rejects a malformed tokenizer.json with a ConfigError naming the file', () => {
    expect(() => new TextTokenizer([], {}, 'dir/tokenizer.json')).toThrow(ConfigError);
    expect(() => new TextTokenizer({ model: {} }, {}, 'dir/tokenizer.json')).toThrow(
      /^dir\/tokenizer\.json: cannot build the tokenizer/,
    );
  });
});
