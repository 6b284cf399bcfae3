// JSONL training and evaluation data from a file, tokenized for a model.
import { readFile } from 'node:fs/promises';
import { warn } from '@peft/adapter-bridge';
import { ConfigError } from '@peft/core';
import { DataFormatError, decodeJsonl, parseJsonl, tokenizeRows } from '../jsonl.js';

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
  /** Token ids per example, in file order; every one has at least 2 tokens. */
  readonly sequences: number[][];
  /** The physical line (1-based) of each sequence. */
  readonly lines: number[];
  /** Lines of the rows left out because they have fewer than 2 tokens, so predict none. */
  readonly skippedLines: number[];
  /** The file's raw text (what a run's fingerprint hashes). */
  readonly text: string;
}

/** A row predicts its tokens after the first, so it needs two to contribute to a loss. */
const MIN_TOKENS = 2;

/**
 * Reads a JSONL file of `{"text": ...}` or `{"input_ids": [...]}` rows. Text rows are encoded with the
 * tokenizer and get EOS appended; id rows are used as given. A bad line (invalid UTF-8 included) is a
 * `DataFormatError` naming `file:line`. Rows of fewer than 2 tokens predict no token: they are left out
 * with one warning counting them (as a trainer that masks them would learn nothing from them), and a file
 * where none remains is an error.
 */
export async function readDataset(path: string, options: ReadDatasetOptions): Promise<Dataset> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (cause) {
    throw new ConfigError(`data file ${path} cannot be read: ${(cause as Error).message}`);
  }
  const text = decodeJsonl(bytes, path);
  const rows = parseJsonl(text, path);
  const textRow = rows.find((row) => 'text' in row);
  const { tokenizer } = options;
  if (textRow && !tokenizer) {
    throw new DataFormatError(
      path,
      textRow.line ?? 0,
      'a "text" row needs the model folder\'s tokenizer.json, and this model has none; add tokenizer.json ' +
        'or give {"input_ids": [...]} rows',
    );
  }
  const eos = options.eosTokenId;
  const all = tokenizeRows(
    rows,
    (value) => {
      const ids = tokenizer!.encode(value);
      return eos === null ? ids : [...ids, eos];
    },
    { maxLength: options.maxLength, vocabSize: options.vocabSize, source: path },
  );
  const sequences: number[][] = [];
  const lines: number[] = [];
  const skippedLines: number[] = [];
  all.forEach((ids, i) => {
    const line = rows[i]!.line ?? i + 1;
    if (ids.length < MIN_TOKENS) skippedLines.push(line);
    else {
      sequences.push(ids);
      lines.push(line);
    }
  });
  const shortRows = `${skippedLines.length} of ${all.length} rows (line${skippedLines.length > 1 ? 's' : ''} ${listLines(skippedLines)}) have fewer than ${MIN_TOKENS} tokens, so they predict no token`;
  if (sequences.length === 0) {
    throw new DataFormatError(
      path,
      0,
      `${shortRows}: nothing to evaluate or train on; give rows with at least ${MIN_TOKENS} tokens (BOS and EOS count)`,
    );
  }
  if (skippedLines.length > 0) warn('SHORT_ROWS_SKIPPED', `${path}: ${shortRows}; they are skipped`);
  return { path, sequences, lines, skippedLines, text };
}

function listLines(lines: readonly number[]): string {
  return lines.length > 8 ? `${lines.slice(0, 8).join(', ')}, ...` : lines.join(', ');
}
