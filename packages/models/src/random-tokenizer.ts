import { ConfigError } from '@peft/core';
import { llamaTokenizerJson } from './tokenizer-json.js';

const SPECIALS = ['<unk>', '<s>', '</s>'];
// The SentencePiece space and printable ASCII, letters first so even a tiny vocabulary spells words.
const ASCII = Array.from({ length: 94 }, (_, i) => String.fromCharCode(33 + i));
const CHARACTERS = [
  '\u2581',
  ...ASCII.filter((c) => /[a-z]/.test(c)),
  ...ASCII.filter((c) => /[A-Z]/.test(c)),
  ...ASCII.filter((c) => /[0-9]/.test(c)),
  ...ASCII.filter((c) => !/[a-zA-Z0-9]/.test(c)),
];

/**
 * A Llama-style `tokenizer.json` (see `llamaTokenizerJson`) with exactly `vocabSize` tokens, for a
 * folder of random weights: `<unk>` 0, `<s>` 1, `</s>` 2, then (when the vocabulary holds them)
 * the 256 byte-fallback tokens, then single characters, then `<extra_N>` fillers, and no merges, so
 * any text encodes (a character at a time) and every id the model can emit decodes.
 */
export function randomTokenizerJson(vocabSize: number): Record<string, unknown> {
  if (!Number.isSafeInteger(vocabSize) || vocabSize < SPECIALS.length) {
    throw new ConfigError(
      `a tokenizer needs a vocabulary of at least ${SPECIALS.length} tokens, got ${vocabSize}`,
    );
  }
  const byteFallback = vocabSize >= SPECIALS.length + 256 + CHARACTERS.length;
  const tokens = [...SPECIALS];
  if (byteFallback) {
    for (let b = 0; b < 256; b++) tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
  }
  for (const c of CHARACTERS) if (tokens.length < vocabSize) tokens.push(c);
  while (tokens.length < vocabSize) tokens.push(`<extra_${tokens.length}>`);
  const vocab = new Map(tokens.map((t, i) => [t, i]));
  return llamaTokenizerJson({ vocab, merges: [], byteFallback });
}
