// Parsed data rows as a run's examples, tokenized for one model: the step shared by `readDataset` (Node) and
// a page that reads the user's JSONL file, so both check, tokenize and leave out rows the same way.
import { warn } from '@peft/adapter-bridge';
import type { ChatTemplate } from './chat-template.js';
import {
  DataFormatError,
  type DataRow,
  IGNORE_LABEL,
  type TrainingExample,
  tokenizeExamples,
} from './jsonl.js';

/** What tokenizing text rows needs from a tokenizer (its post-processor adds BOS unless told not to). */
export interface TextEncoder {
  encode(text: string, options?: { addSpecialTokens?: boolean }): number[];
  /** The parsed tokenizer.json (as `TextTokenizer` keeps it): its special tokens end assistant turns. */
  readonly files?: { readonly tokenizer: object };
}

export interface DatasetExamplesOptions {
  /** Needed for `{"text"}`, `{"prompt", "completion"}` and `{"messages"}` rows; `{"input_ids"}` rows need none. */
  tokenizer: TextEncoder | null;
  /** Token ids must be below this (the model's vocabulary size). */
  vocabSize: number;
  /** Longer examples are cut to this many tokens. */
  maxLength: number;
  /** Appended to every text and completion, so the model learns where an example ends (null: nothing appended). */
  eosTokenId: number | null;
  /** Renders `{"messages"}` rows; without one such a row is an error. */
  chatTemplate?: ChatTemplate | null;
  /** Chat rows learn only the assistant turns (default true); false learns every token. */
  assistantOnlyLoss?: boolean;
  /** Names the model in the error for a chat row without a template (default "the model folder"). */
  modelName?: string;
}

export interface DatasetExamples {
  /** The examples, in row order, with labels where only some tokens are learned; each predicts a token. */
  readonly examples: TrainingExample[];
  /** The token ids of `examples`. */
  readonly sequences: number[][];
  /** The physical line (1-based) of each example's row. */
  readonly lines: number[];
  /** Lines of the rows left out because they predict no token (fewer than 2 tokens, or no label after the first). */
  readonly skippedLines: number[];
}

/** A row predicts its tokens after the first, so it needs two to contribute to a loss. */
const MIN_TOKENS = 2;

/**
 * Tokenizes `rows` (see `tokenizeExamples`: text gets EOS, a prompt-completion row learns its completion, a chat
 * row is rendered with `chatTemplate` and learns its assistant turns, id rows are used as given). A text row
 * without a tokenizer, or a chat row without a template, is a `DataFormatError` naming `source:line`. Rows that
 * predict no token are left out with one warning (`SHORT_ROWS_SKIPPED`) counting them, as a trainer that masks
 * them would learn nothing from them; when none remains it is an error.
 */
export function datasetExamples(
  rows: readonly DataRow[],
  source: string,
  options: DatasetExamplesOptions,
): DatasetExamples {
  const { tokenizer, chatTemplate = null } = options;
  const textRow = rows.find((row) => !('input_ids' in row));
  if (textRow && !tokenizer) {
    const key = 'text' in textRow ? 'text' : 'prompt' in textRow ? 'prompt' : 'messages';
    throw new DataFormatError(
      source,
      textRow.line ?? 0,
      `a "${key}" row needs the model folder's tokenizer.json, and this model has none; add tokenizer.json ` +
        'or give {"input_ids": [...]} rows',
    );
  }
  const chatRow = rows.find((row) => 'messages' in row);
  if (chatRow && !chatTemplate) {
    throw new DataFormatError(
      source,
      chatRow.line ?? 0,
      `a chat "messages" row needs the model's chat template, and ${options.modelName ?? 'the model folder'} has none (no "chat_template" in tokenizer_config.json, no chat_template.jinja); ` +
        'render the conversations to {"text": ...} or {"prompt": ..., "completion": ...} rows, or use a model folder with a chat template',
    );
  }
  const all = tokenizeExamples(rows, (value) => tokenizer!.encode(value), {
    maxLength: options.maxLength,
    vocabSize: options.vocabSize,
    source,
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
      source,
      0,
      `${shortRows}: nothing to evaluate or train on; give rows with at least ${MIN_TOKENS} tokens (BOS and EOS count)`,
    );
  }
  if (skippedLines.length > 0) warn('SHORT_ROWS_SKIPPED', `${source}: ${shortRows}; they are skipped`);
  return { examples, sequences, lines, skippedLines };
}

/** Whether some token after the first is learned (the first is never a target). */
function predictsAToken({ inputIds, labels }: TrainingExample): boolean {
  if (inputIds.length < MIN_TOKENS) return false;
  return labels === undefined || labels.slice(1).some((label) => label !== IGNORE_LABEL);
}

function listLines(lines: readonly number[]): string {
  return lines.length > 8 ? `${lines.slice(0, 8).join(', ')}, ...` : lines.join(', ');
}
