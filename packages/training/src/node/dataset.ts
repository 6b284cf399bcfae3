// JSONL training and evaluation data from a file, tokenized for a model.
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { warn } from '@peft/adapter-bridge';
import { ConfigError } from '@peft/core';
import type { ChatTemplate } from '../chat-template.js';
import {
  DataFormatError,
  decodeJsonl,
  IGNORE_LABEL,
  parseDataRows,
  type TrainingExample,
  tokenizeExamples,
} from '../jsonl.js';
import { readChatTemplate } from './chat-template-file.js';

/** What reading text rows needs from a tokenizer (its post-processor adds BOS unless told not to). */
export interface TextEncoder {
  encode(text: string, options?: { addSpecialTokens?: boolean }): number[];
  /** The parsed tokenizer.json (as `TextTokenizer` keeps it): its special tokens end assistant turns. */
  readonly files?: { readonly tokenizer: object };
}

export interface ReadDatasetOptions {
  /** Needed for `{"text": ...}` and `{"prompt", "completion"}` rows; `{"input_ids": [...]}` rows need none. */
  tokenizer: TextEncoder | null;
  /** Token ids must be below this (the model's vocabulary size). */
  vocabSize: number;
  /** Longer examples are cut to this many tokens. */
  maxLength: number;
  /** Appended to every text and completion, so the model learns where an example ends (null: nothing appended). */
  eosTokenId: number | null;
  /**
   * The model folder, whose chat template (`readChatTemplate`) renders `{"messages"}` rows; read only when
   * the file has such rows. `chatTemplate` given instead takes precedence.
   */
  modelDir?: string;
  /** The template for `{"messages"}` rows, when not read from `modelDir`. */
  chatTemplate?: ChatTemplate | null;
  /** Chat rows learn only the assistant turns (default true); false learns every token. */
  assistantOnlyLoss?: boolean;
}

export interface Dataset {
  /** The JSONL file read (`train.jsonl` inside a data folder). */
  readonly path: string;
  /** The examples, in file order, with labels where only some tokens are learned; each predicts a token. */
  readonly examples: TrainingExample[];
  /** The token ids of `examples`. */
  readonly sequences: number[][];
  /** The physical line (1-based) of each sequence. */
  readonly lines: number[];
  /** Lines of the rows left out because they predict no token (fewer than 2 tokens, or no label after the first). */
  readonly skippedLines: number[];
  /** The file's raw text (what a run's fingerprint hashes). */
  readonly text: string;
}

/** A row predicts its tokens after the first, so it needs two to contribute to a loss. */
const MIN_TOKENS = 2;

/** The files of a data folder, as mlx-lm lays them out. */
export const TRAIN_FILE = 'train.jsonl';
export const VALID_FILE = 'valid.jsonl';
export const TEST_FILE = 'test.jsonl';

export interface DataFiles {
  /** The training JSONL file. */
  readonly train: string;
  /** `valid.jsonl` of a data folder when it has one, else null. */
  readonly valid: string | null;
  /** `test.jsonl` of a data folder when it has one, else null (evaluated once, after training). */
  readonly test: string | null;
}

/**
 * The files `--data` names: a JSONL file is the training data itself; a folder holds `train.jsonl` and
 * optionally `valid.jsonl` (held-out data) and `test.jsonl` (evaluated after training), as mlx-lm reads a data
 * folder. A folder without `train.jsonl`
 * is a `ConfigError`.
 */
export async function resolveDataFiles(data: string): Promise<DataFiles> {
  if (!(await isDirectory(data))) return { train: data, valid: null, test: null };
  const train = join(data, TRAIN_FILE);
  if (!(await isFile(train))) {
    throw new ConfigError(
      `data folder ${data} has no ${TRAIN_FILE}; put the training rows there (and held-out rows in ${VALID_FILE}), or give a JSONL file`,
    );
  }
  const valid = join(data, VALID_FILE);
  const test = join(data, TEST_FILE);
  return { train, valid: (await isFile(valid)) ? valid : null, test: (await isFile(test)) ? test : null };
}

async function isDirectory(path: string): Promise<boolean> {
  return (await stat(path).catch(() => null))?.isDirectory() ?? false;
}

async function isFile(path: string): Promise<boolean> {
  return (await stat(path).catch(() => null))?.isFile() ?? false;
}

/**
 * Reads a JSONL file (or a data folder's `train.jsonl`, see `resolveDataFiles`) of `{"text": ...}`,
 * `{"prompt": ..., "completion": ...}`, `{"messages": [...]}` or `{"input_ids": [...], "labels"?: [...]}`
 * rows. Text is encoded with the tokenizer and gets EOS appended; a prompt-completion row learns only the
 * completion (and EOS), see `tokenizeExamples`; a chat row is rendered with the model's chat template and
 * learns its assistant turns (see `tokenizeChat`); id rows are used as given. A bad line (invalid UTF-8 included) is a
 * `DataFormatError` naming `file:line`. Rows of fewer than 2 tokens predict no token: they are left out
 * with one warning counting them (as a trainer that masks them would learn nothing from them), and a file
 * where none remains is an error.
 */
export async function readDataset(data: string, options: ReadDatasetOptions): Promise<Dataset> {
  const path = (await resolveDataFiles(data)).train;
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (cause) {
    throw new ConfigError(`data file ${path} cannot be read: ${(cause as Error).message}`);
  }
  const text = decodeJsonl(bytes, path);
  const rows = parseDataRows(text, path);
  const textRow = rows.find((row) => !('input_ids' in row));
  const { tokenizer } = options;
  if (textRow && !tokenizer) {
    const key = 'text' in textRow ? 'text' : 'prompt' in textRow ? 'prompt' : 'messages';
    throw new DataFormatError(
      path,
      textRow.line ?? 0,
      `a "${key}" row needs the model folder's tokenizer.json, and this model has none; add tokenizer.json ` +
        'or give {"input_ids": [...]} rows',
    );
  }
  const chatRow = rows.find((row) => 'messages' in row);
  const chatTemplate =
    options.chatTemplate ??
    (chatRow && options.modelDir !== undefined
      ? await readChatTemplate(options.modelDir, tokenizer?.files?.tokenizer)
      : null);
  if (chatRow && !chatTemplate) {
    const model = options.modelDir ?? 'the model folder';
    throw new DataFormatError(
      path,
      chatRow.line ?? 0,
      `a chat "messages" row needs the model's chat template, and ${model} has none (no "chat_template" in tokenizer_config.json, no chat_template.jinja); ` +
        'render the conversations to {"text": ...} or {"prompt": ..., "completion": ...} rows, or use a model folder with a chat template',
    );
  }
  const all = tokenizeExamples(rows, (value) => tokenizer!.encode(value), {
    maxLength: options.maxLength,
    vocabSize: options.vocabSize,
    source: path,
    eosTokenId: options.eosTokenId,
    chat: chatTemplate
      ? {
          template: chatTemplate,
          encode: (value) => tokenizer!.encode(value, { addSpecialTokens: false }),
          assistantOnlyLoss: options.assistantOnlyLoss ?? true,
        }
      : null,
  });
  const examples: TrainingExample[] = [];
  const sequences: number[][] = [];
  const lines: number[] = [];
  const skippedLines: number[] = [];
  all.forEach((example, i) => {
    const line = rows[i]!.line ?? i + 1;
    if (!predictsAToken(example)) skippedLines.push(line);
    else {
      examples.push(example);
      sequences.push([...example.inputIds]);
      lines.push(line);
    }
  });
  const shortRows = `${skippedLines.length} of ${all.length} rows (line${skippedLines.length > 1 ? 's' : ''} ${listLines(skippedLines)}) have fewer than ${MIN_TOKENS} tokens or no label after the first, so they predict no token`;
  if (sequences.length === 0) {
    throw new DataFormatError(
      path,
      0,
      `${shortRows}: nothing to evaluate or train on; give rows with at least ${MIN_TOKENS} tokens (BOS and EOS count)`,
    );
  }
  if (skippedLines.length > 0) warn('SHORT_ROWS_SKIPPED', `${path}: ${shortRows}; they are skipped`);
  return { path, examples, sequences, lines, skippedLines, text };
}

/** Whether some token after the first is learned (the first is never a target). */
function predictsAToken({ inputIds, labels }: TrainingExample): boolean {
  if (inputIds.length < MIN_TOKENS) return false;
  return labels === undefined || labels.slice(1).some((label) => label !== IGNORE_LABEL);
}

function listLines(lines: readonly number[]): string {
  return lines.length > 8 ? `${lines.slice(0, 8).join(', ')}, ...` : lines.join(', ');
}
