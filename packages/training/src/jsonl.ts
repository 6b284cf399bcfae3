import { PeftError } from '@peft/core';
import { encodeTruncated } from './truncated-encode.js';

/** A JSONL line is malformed, too long, not UTF-8, or has neither `text` nor `input_ids`. */
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
export type JsonlRow = ({ text: string } | { input_ids: number[] }) & { line?: number };

/**
 * The longest line read, in characters. A training example is cut to the run's sequence length, so even a
 * long-context example is far shorter; a longer line is a mistake (a whole corpus on one line) that would
 * otherwise cost memory in proportion to its length.
 */
export const MAX_JSONL_LINE_CHARS = 16 * 2 ** 20;

/**
 * Parses JSONL rows of `{"text": ...}` or `{"input_ids": [...]}`. Blank lines are skipped; any other
 * problem is an error naming the source and line, since silently dropping rows changes what is trained.
 */
export function parseJsonl(content: string, source = 'data.jsonl'): JsonlRow[] {
  const rows: JsonlRow[] = [];
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
    const obj = value as Record<string, unknown>;
    if (typeof obj.text === 'string') {
      rows.push({ text: obj.text, line: lineNumber });
    } else if (Array.isArray(obj.input_ids)) {
      const ids = obj.input_ids;
      if (!ids.every((id) => Number.isSafeInteger(id) && (id as number) >= 0)) {
        throw new DataFormatError(
          source,
          lineNumber,
          '"input_ids" must be an array of non-negative integers',
        );
      }
      rows.push({ input_ids: ids as number[], line: lineNumber });
    } else {
      throw new DataFormatError(source, lineNumber, 'expected a "text" string or an "input_ids" array');
    }
  }
  if (rows.length === 0) throw new DataFormatError(source, 0, 'no examples found');
  return rows;
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

/**
 * Turns rows into token id sequences of at most `maxLength` tokens; `encode` should add BOS (and EOS if
 * the task wants it). A text row is encoded only as far as the tokens kept need (see `encodeTruncated`).
 */
export function tokenizeRows(
  rows: JsonlRow[],
  encode: (text: string) => number[],
  options: { maxLength: number; vocabSize?: number; source?: string },
): number[][] {
  return rows.map((row, i) => {
    // Given ids are checked whole (a bad one anywhere means data for another model); encoded ones as kept.
    const ids = 'text' in row ? encodeTruncated(row.text, encode, options.maxLength) : row.input_ids;
    if (options.vocabSize !== undefined) {
      const bad = ids.find((id) => id >= options.vocabSize!);
      if (bad !== undefined) {
        throw new DataFormatError(
          options.source ?? 'data',
          row.line ?? i + 1,
          `token id ${bad} is outside the vocabulary (${options.vocabSize})`,
        );
      }
    }
    return ids.slice(0, options.maxLength);
  });
}
