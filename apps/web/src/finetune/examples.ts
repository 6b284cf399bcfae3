import { ConfigError } from '@peft/core';
import type { TextTokenizer } from '@peft/models';
import { type JsonlRow, tokenizeRows } from '@peft/training';

/** A held-out row split for generation: the prompt the model sees and the answer it should give. */
export interface PromptExample {
  /** The dictionary word, e.g. "enrich". */
  word: string;
  /** What the model is asked: "enrich:". */
  prompt: string;
  /** The pronunciation in the data: "EH0 N R IH1 CH". */
  expected: string;
}

/** Splits a `word: PH ON EMES` row at its first colon. */
export function promptExample(text: string, source = 'data'): PromptExample {
  const colon = text.indexOf(':');
  if (colon <= 0) throw new ConfigError(`${source}: row "${text}" is not "word: PHONEMES"`);
  const word = text.slice(0, colon);
  return { word, prompt: `${word}:`, expected: text.slice(colon + 1).trim() };
}

/**
 * Token ids of each row for training and evaluation: BOS (from the tokenizer), the text, then EOS, so
 * the model learns where a pronunciation ends and greedy generation stops there.
 */
export function encodeRows(
  tokenizer: TextTokenizer,
  rows: JsonlRow[],
  options: { eosTokenId: number; maxLength: number; vocabSize: number; source: string },
): number[][] {
  const { eosTokenId, ...rest } = options;
  return tokenizeRows(rows, (text) => [...tokenizer.encode(text), eosTokenId], rest);
}

/** The text of each row (a row given as `input_ids` has none to show). */
export function rowTexts(rows: JsonlRow[]): string[] {
  return rows.flatMap((row) => ('text' in row ? [row.text] : []));
}
