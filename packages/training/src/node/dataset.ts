// JSONL training and evaluation data from a file, tokenized for a model.
import { readFile } from 'node:fs/promises';
import { ConfigError } from '@peft/core';
import { DataFormatError, parseJsonl, tokenizeRows } from '../jsonl.js';

/** What reading text rows needs from a tokenizer (its post-processor adds BOS). */
export interface TextEncoder {
  encode(text: string): number[];
}

export interface ReadDatasetOptions {
  /** Needed for `{"text": ...}` rows; `{"input_ids": [...]}` rows need none. */
  tokenizer: TextEncoder | null;
  /** Token ids must be below this (the model's vocabulary size). */
  vocabSize: number;
  /** Longer examples are cut to this many tokens. */
  maxLength: number;
  /** Appended to every text row, so the model learns where an example ends (null: nothing appended). */
  eosTokenId: number | null;
}

export interface Dataset {
  readonly path: string;
  /** Token ids per example, in file order. */
  readonly sequences: number[][];
  /** The file's raw text (what a run's fingerprint hashes). */
  readonly text: string;
}

/**
 * Reads a JSONL file of `{"text": ...}` or `{"input_ids": [...]}` rows. Text rows are encoded with the
 * tokenizer and get EOS appended; id rows are used as given. A bad line is a `DataFormatError` naming
 * `file:line`.
 */
export async function readDataset(path: string, options: ReadDatasetOptions): Promise<Dataset> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    throw new ConfigError(`data file ${path} cannot be read: ${(cause as Error).message}`);
  }
  const rows = parseJsonl(text, path);
  const textRow = rows.findIndex((row) => 'text' in row);
  const { tokenizer } = options;
  if (textRow >= 0 && !tokenizer) {
    throw new DataFormatError(
      path,
      textRow + 1,
      'a "text" row needs the model folder\'s tokenizer.json, and this model has none; add tokenizer.json ' +
        'or give {"input_ids": [...]} rows',
    );
  }
  const eos = options.eosTokenId;
  const sequences = tokenizeRows(
    rows,
    (value) => {
      const ids = tokenizer!.encode(value);
      return eos === null ? ids : [...ids, eos];
    },
    { maxLength: options.maxLength, vocabSize: options.vocabSize, source: path },
  );
  return { path, sequences, text };
}
