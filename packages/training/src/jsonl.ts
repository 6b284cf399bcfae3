import { PeftError } from '@peft/core';
import { type ChatRow, checkMessages, tokenizeChat } from './chat-rows.js';
import { type ChatTemplate, ChatTemplateError } from './chat-template.js';
import { encodeTruncated } from './truncated-encode.js';

/** A JSONL line is malformed, too long, not UTF-8, matches no accepted row format, or leaves nothing to learn. */
export class DataFormatError extends PeftError {
  /** The physical line (1-based, blank lines counted), or 0 when the problem is the whole file. */
  readonly line: number;

  constructor(source: string, line: number, detail: string) {
    super('DATA_FORMAT', line > 0 ? `${source}:${line}: ${detail}` : `${source}: ${detail}`);
    this.line = line;
  }
}

/**
 * One training example as it appears in a JSONL file. `line` is its physical line in the file (blank lines
 * counted), so errors found later (tokenizing, checking ids) name the line an editor shows.
 */
export type JsonlRow = ({ text: string } | { input_ids: number[]; labels?: number[] }) & { line?: number };

/** A prompt-completion example: the loss is taken on the completion only (see `tokenizeExamples`). */
export interface PromptCompletionRow {
  prompt: string;
  completion: string;
  line?: number;
}

/** Any row a data file may hold (`parseDataRows`); `JsonlRow` is the subset `parseJsonl` returns. */
export type DataRow = JsonlRow | PromptCompletionRow | ChatRow;

/** The label of a token that contributes no loss (prompt tokens, padding), as in PyTorch and transformers. */
export const IGNORE_LABEL = -100;

/**
 * One tokenized example: its input ids and, when only some tokens are learned (a completion after its
 * prompt, given labels), the per-token labels, `IGNORE_LABEL` where no loss is taken. Without labels every
 * token is learned (labels = input ids). Models shift labels themselves, so `labels[t]` is the target of
 * the prediction made at position t - 1.
 */
export interface TrainingExample {
  readonly inputIds: readonly number[];
  readonly labels?: readonly number[];
}

/** What the training loop and evaluation take: plain token ids (every token learned) or an example. */
export type ExampleInput = readonly number[] | TrainingExample;

/** The example form of either input. */
export function asTrainingExample(example: ExampleInput): TrainingExample {
  return isTokenIds(example) ? { inputIds: example } : example;
}

function isTokenIds(example: ExampleInput): example is readonly number[] {
  return Array.isArray(example);
}

const ACCEPTED_FORMATS =
  '{"text": ...}, {"prompt": ..., "completion": ...}, {"messages": [{"role": ..., "content": ...}, ...]} or {"input_ids": [...]} (optionally with "labels": [...])';

/**
 * The longest line read, in characters. A training example is cut to the run's sequence length, so even a
 * long-context example is far shorter; a longer line is a mistake (a whole corpus on one line) that would
 * otherwise cost memory in proportion to its length.
 */
export const MAX_JSONL_LINE_CHARS = 16 * 2 ** 20;

/**
 * Parses JSONL rows of `{"text": ...}` or `{"input_ids": [...]}` (with optional `"labels"`), as
 * `parseDataRows` does, for callers that handle only those; a prompt-completion row is an error naming its
 * line.
 */
export function parseJsonl(content: string, source = 'data.jsonl'): JsonlRow[] {
  return parseDataRows(content, source).map((row) => {
    if ('prompt' in row || 'messages' in row) {
      throw new DataFormatError(
        source,
        row.line ?? 0,
        `a ${'prompt' in row ? 'prompt-completion' : 'chat "messages"'} row, which this reader does not take; give {"text": ...} or {"input_ids": [...]} rows`,
      );
    }
    return row;
  });
}

/**
 * Parses JSONL rows of `{"text": ...}`, `{"prompt": ..., "completion": ...}` (the loss is taken on the
 * completion only), `{"messages": [{"role": ..., "content": ...}, ...]}` (rendered with the model's chat
 * template, see `tokenizeExamples`) or `{"input_ids": [...]}` with optional same-length `"labels"` (-100: no loss). Blank lines are skipped; any other
 * problem is an error naming the source and line, since silently dropping rows changes what is trained.
 */
export function parseDataRows(content: string, source = 'data.jsonl'): DataRow[] {
  const rows: DataRow[] = [];
  const lines = content.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const lineNumber = i + 1;
    const raw = lines[i]!;
    if (raw.length > MAX_JSONL_LINE_CHARS) {
      throw new DataFormatError(
        source,
        lineNumber,
        `the line is ${raw.length} characters long; lines of at most ${MAX_JSONL_LINE_CHARS} are read ` +
          '(an example is cut to the sequence length anyway): split it into several examples',
      );
    }
    const line = raw.trim();
    if (!line) continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      throw new DataFormatError(source, lineNumber, `not valid JSON (${(err as Error).message})`);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new DataFormatError(source, lineNumber, 'each line must be a JSON object');
    }
    rows.push({ ...parseRow(value as Record<string, unknown>, source, lineNumber), line: lineNumber });
  }
  if (rows.length === 0) throw new DataFormatError(source, 0, 'no examples found');
  return rows;
}

/** One row's format, checked; an object that matches none names its keys and the formats accepted. */
function parseRow(obj: Record<string, unknown>, source: string, line: number): DataRow {
  const fail = (detail: string) => new DataFormatError(source, line, detail);
  if ('messages' in obj) {
    const messages = checkMessages(obj.messages);
    if (typeof messages === 'string') throw fail(`a chat row: ${messages}`);
    return { messages };
  }
  if ('prompt' in obj || 'completion' in obj) {
    if (typeof obj.prompt !== 'string' || typeof obj.completion !== 'string') {
      throw fail('a prompt-completion row needs both "prompt" and "completion" strings');
    }
    return { prompt: obj.prompt, completion: obj.completion };
  }
  if (typeof obj.text === 'string') return { text: obj.text };
  if (Array.isArray(obj.input_ids)) {
    const ids = obj.input_ids;
    if (!ids.every((id) => Number.isSafeInteger(id) && (id as number) >= 0)) {
      throw fail('"input_ids" must be an array of non-negative integers');
    }
    if (obj.labels === undefined) return { input_ids: ids as number[] };
    const labels = obj.labels;
    if (
      !Array.isArray(labels) ||
      !labels.every((id) => Number.isSafeInteger(id) && ((id as number) >= 0 || id === IGNORE_LABEL))
    ) {
      throw fail(`"labels" must be an array of non-negative integers or ${IGNORE_LABEL} (no loss)`);
    }
    if (labels.length !== ids.length) {
      throw fail(
        `"labels" has ${labels.length} entries and "input_ids" ${ids.length}; give one label per token`,
      );
    }
    return { input_ids: ids as number[], labels: labels as number[] };
  }
  const keys = Object.keys(obj);
  const has = keys.length > 0 ? `it has ${keys.map((k) => JSON.stringify(k)).join(', ')}` : 'it is empty';
  throw fail(`the row matches no accepted format: ${has}; give ${ACCEPTED_FORMATS}`);
}

/**
 * The text of a JSONL file's bytes. Invalid UTF-8 is an error naming the line, not U+FFFD replacement
 * characters trained on as if they were text. A byte-order mark is kept (the parser trims it).
 */
export function decodeJsonl(bytes: Uint8Array, source = 'data.jsonl'): string {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    // Rare, so find the line the slow way: a UTF-8 sequence never contains a newline byte.
    const decoder = new TextDecoder('utf-8', { fatal: true });
    let start = 0;
    for (let line = 1; ; line++) {
      const newline = bytes.indexOf(0x0a, start);
      const end = newline < 0 ? bytes.length : newline;
      try {
        decoder.decode(bytes.subarray(start, end));
      } catch {
        throw new DataFormatError(
          source,
          line,
          `is not valid UTF-8 (bytes ${start} to ${end} of the file); save the file as UTF-8`,
        );
      }
      if (newline < 0) break;
      start = newline + 1;
    }
    throw new DataFormatError(source, 0, 'is not valid UTF-8; save the file as UTF-8');
  }
}

export interface TokenizeOptions {
  maxLength: number;
  vocabSize?: number;
  source?: string;
  /**
   * Appended after the encoded text of text and prompt-completion rows when the sequence is not cut
   * (so the model learns where an example ends). Give it here, not inside `encode`, for prompt-completion
   * rows: `encode(prompt)` must be the prompt's tokens alone.
   */
  eosTokenId?: number | null;
  /** How chat (`{"messages"}`) rows are rendered and tokenized; without it a chat row is an error. */
  chat?: ChatOptions | null;
}

/** What tokenizing chat rows needs. */
export interface ChatOptions {
  /** The model's chat template. */
  readonly template: ChatTemplate;
  /**
   * Encodes rendered text WITHOUT added special tokens: the template writes BOS itself, as transformers'
   * `apply_chat_template(tokenize=True)` encodes.
   */
  readonly encode: (text: string) => number[];
  /**
   * Learn the assistant turns only (default true), as TRL's `assistant_only_loss`; false learns every token.
   * On by default like the completion-only loss of prompt-completion rows: the user's turns are input, not
   * text the model is meant to write.
   */
  readonly assistantOnlyLoss?: boolean;
}

/**
 * Turns rows into token id sequences of at most `maxLength` tokens; `encode` should add BOS. A text row is
 * encoded only as far as the tokens kept need (see `encodeTruncated`). The token ids of each example are
 * those of `tokenizeExamples`.
 */
export function tokenizeRows(
  rows: readonly DataRow[],
  encode: (text: string) => number[],
  options: TokenizeOptions,
): number[][] {
  return tokenizeExamples(rows, encode, options).map((example) => [...example.inputIds]);
}

/**
 * Turns rows into examples of at most `maxLength` tokens, with labels where only some tokens are learned.
 *
 * A prompt-completion row is tokenized as mlx-lm does: the input ids are `encode(prompt + completion)`
 * (one BOS, and the tokens across the seam are those of the real text), and the prompt's tokens are the
 * first `encode(prompt).length` of them; those get label -100, so the loss is the completion's only (TRL's
 * completion-only loss). When the prompt alone fills `maxLength`, nothing of the completion is left to
 * learn: that is an error naming the line, not a row silently trained on nothing.
 */
export function tokenizeExamples(
  rows: readonly DataRow[],
  encode: (text: string) => number[],
  options: TokenizeOptions,
): TrainingExample[] {
  const { maxLength } = options;
  const source = options.source ?? 'data';
  const eos = options.eosTokenId ?? null;
  // encodeTruncated returns fewer than maxLength tokens only when it encoded the whole text.
  const withEos = (ids: number[]) => (eos !== null && ids.length < maxLength ? [...ids, eos] : ids);
  return rows.map((row, i) => {
    const line = row.line ?? i + 1;
    let example: { inputIds: number[]; labels?: number[] };
    if ('text' in row) {
      example = { inputIds: withEos(encodeTruncated(row.text, encode, maxLength)) };
    } else if ('messages' in row) {
      const chat = options.chat;
      if (!chat) {
        throw new DataFormatError(
          source,
          line,
          'a chat "messages" row needs the model\'s chat template ("chat_template" in tokenizer_config.json or chat_template.jinja); use a model folder that has one, or give {"text": ...} or {"prompt": ..., "completion": ...} rows',
        );
      }
      let result: ReturnType<typeof tokenizeChat>;
      try {
        result = tokenizeChat(row, chat.template, chat.encode, {
          maxLength,
          assistantOnlyLoss: chat.assistantOnlyLoss ?? true,
        });
      } catch (err) {
        if (err instanceof ChatTemplateError)
          throw new ChatTemplateError(`${source}:${line}: ${err.message}`);
        throw err;
      }
      if (typeof result === 'string') throw new DataFormatError(source, line, result);
      example = result;
    } else if ('prompt' in row) {
      const inputIds = withEos(encodeTruncated(row.prompt + row.completion, encode, maxLength));
      const promptLength = encodeTruncated(row.prompt, encode, maxLength).length;
      if (promptLength >= inputIds.length) {
        throw new DataFormatError(
          source,
          line,
          `the prompt takes ${promptLength >= maxLength ? `all ${maxLength}` : promptLength} tokens of the sequence, so none of the completion is left to learn; shorten the prompt or raise the sequence length`,
        );
      }
      example = {
        inputIds,
        labels: inputIds.map((id, t) => (t < promptLength ? IGNORE_LABEL : id)),
      };
    } else {
      // Given ids are checked whole (a bad one anywhere means data for another model); encoded ones as kept.
      example = row.labels ? { inputIds: row.input_ids, labels: row.labels } : { inputIds: row.input_ids };
    }
    if (options.vocabSize !== undefined) {
      const vocabSize = options.vocabSize;
      const bad =
        example.inputIds.find((id) => id >= vocabSize) ?? example.labels?.find((id) => id >= vocabSize);
      if (bad !== undefined) {
        throw new DataFormatError(source, line, `token id ${bad} is outside the vocabulary (${vocabSize})`);
      }
    }
    const inputIds = example.inputIds.slice(0, maxLength);
    return example.labels ? { inputIds, labels: example.labels.slice(0, maxLength) } : { inputIds };
  });
}
