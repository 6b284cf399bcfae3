import { PeftError } from '@peft/core';

/** A JSONL line is malformed or has neither `text` nor `input_ids`. */
export class DataFormatError extends PeftError {
  constructor(source: string, line: number, detail: string) {
    super('DATA_FORMAT', `${source}:${line}: ${detail}`);
  }
}

/** One training example as it appears in a JSONL file. */
export type JsonlRow = { text: string } | { input_ids: number[] };

/**
 * Parses JSONL rows of `{"text": ...}` or `{"input_ids": [...]}`. Blank lines are skipped; any other
 * problem is an error naming the source and line, since silently dropping rows changes what is trained.
 */
export function parseJsonl(content: string, source = 'data.jsonl'): JsonlRow[] {
  const rows: JsonlRow[] = [];
  const lines = content.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (!line) continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      throw new DataFormatError(source, i + 1, `not valid JSON (${(err as Error).message})`);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new DataFormatError(source, i + 1, 'each line must be a JSON object');
    }
    const obj = value as Record<string, unknown>;
    if (typeof obj.text === 'string') {
      rows.push({ text: obj.text });
    } else if (Array.isArray(obj.input_ids)) {
      const ids = obj.input_ids;
      if (!ids.every((id) => Number.isInteger(id) && (id as number) >= 0)) {
        throw new DataFormatError(source, i + 1, '"input_ids" must be an array of non-negative integers');
      }
      rows.push({ input_ids: ids as number[] });
    } else {
      throw new DataFormatError(source, i + 1, 'expected a "text" string or an "input_ids" array');
    }
  }
  if (rows.length === 0) throw new DataFormatError(source, 0, 'no examples found');
  return rows;
}

/** Turns rows into token id sequences; `encode` should add BOS (and EOS if the task wants it). */
export function tokenizeRows(
  rows: JsonlRow[],
  encode: (text: string) => number[],
  options: { maxLength: number; vocabSize?: number; source?: string },
): number[][] {
  return rows.map((row, i) => {
    const ids = 'text' in row ? encode(row.text) : row.input_ids;
    if (options.vocabSize !== undefined) {
      const bad = ids.find((id) => id >= options.vocabSize!);
      if (bad !== undefined) {
        throw new DataFormatError(
          options.source ?? 'data',
          i + 1,
          `token id ${bad} is outside the vocabulary (${options.vocabSize})`,
        );
      }
    }
    return ids.slice(0, options.maxLength);
  });
}
