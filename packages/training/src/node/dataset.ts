// JSONL training and evaluation data from a file, tokenized for a model.
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError } from '@peft/core';
import type { ChatTemplate } from '../chat-template.js';
import { type DatasetExamples, datasetExamples, type TextEncoder } from '../dataset-examples.js';
import { decodeJsonl, parseDataRows } from '../jsonl.js';
import { readChatTemplate } from './chat-template-file.js';

export type { TextEncoder } from '../dataset-examples.js';

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

export interface Dataset extends DatasetExamples {
  /** The JSONL file read (`train.jsonl` inside a data folder). */
  readonly path: string;
  /** The file's raw text (what a run's fingerprint hashes). */
  readonly text: string;
}

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
  const { tokenizer } = options;
  const hasChatRows = rows.some((row) => 'messages' in row);
  const chatTemplate =
    options.chatTemplate ??
    (hasChatRows && tokenizer && options.modelDir !== undefined
      ? await readChatTemplate(options.modelDir, tokenizer.files?.tokenizer)
      : null);
  const examples = datasetExamples(rows, path, {
    tokenizer,
    vocabSize: options.vocabSize,
    maxLength: options.maxLength,
    eosTokenId: options.eosTokenId,
    chatTemplate,
    ...(options.assistantOnlyLoss === undefined ? {} : { assistantOnlyLoss: options.assistantOnlyLoss }),
    ...(options.modelDir === undefined ? {} : { modelName: options.modelDir }),
  });
  return { path, ...examples, text };
}
