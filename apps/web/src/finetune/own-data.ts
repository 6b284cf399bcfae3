// The user's JSONL rows as a run's data: tokenized as `peft finetune` reads a data file (text, prompt-completion
// with the prompt masked, or token ids), and the prompt generated from before and after.
import { ConfigError } from '@peft/core';
import {
  DataFormatError,
  type DataRow,
  IGNORE_LABEL,
  type TrainingArguments,
  type TrainingExample,
  tokenizeExamples,
} from '@peft/training';
import type { RunOptions } from '../options.js';
import type { PromptExample } from './examples.js';
import type { OwnRunInputs, RunData } from './run.js';

/** A row teaches something only when a token after its first is labelled (the first is never a target). */
function predictsAToken({ inputIds, labels }: TrainingExample): boolean {
  if (inputIds.length < 2) return false;
  return labels === undefined || labels.slice(1).some((label) => label !== IGNORE_LABEL);
}

function examples(
  inputs: OwnRunInputs,
  rows: DataRow[],
  source: string,
  maxLength: number,
): TrainingExample[] {
  const { model, tokenizer } = inputs;
  const textRow = rows.find((row) => 'text' in row || 'prompt' in row);
  if (textRow && !tokenizer) {
    throw new DataFormatError(
      source,
      textRow.line ?? 0,
      'a text or prompt row needs the model folder\'s tokenizer.json, and none was chosen; add it or give {"input_ids": [...]} rows',
    );
  }
  const all = tokenizeExamples(rows, (text) => tokenizer!.encode(text), {
    maxLength,
    vocabSize: model.config.vocabSize,
    source,
    eosTokenId: model.config.eosTokenIds[0] ?? null,
  });
  const kept = all.filter(predictsAToken);
  if (kept.length === 0) {
    throw new ConfigError(
      `${source}: none of its ${all.length} rows has a token to learn after its first; give rows of at least 2 tokens`,
    );
  }
  return kept;
}

/** The form's prompt, else the first prompt-completion row's prompt (held-out rows first), else none. */
function prompts(inputs: OwnRunInputs, options: RunOptions): PromptExample[] {
  if (!inputs.tokenizer) return [];
  if (options.prompt.trim() !== '') return [{ word: options.prompt, prompt: options.prompt, expected: '' }];
  const row = [...(inputs.eval ?? []), ...inputs.train].find((r) => 'prompt' in r);
  return row && 'prompt' in row
    ? [{ word: row.prompt, prompt: row.prompt, expected: row.completion.trim() }]
    : [];
}

/**
 * Tokenizes the training rows and the held-out rows (the first `evalRows` of the eval file, or of the
 * training file when there is none). Rows that predict no token are left out, as `peft finetune` does.
 */
export function ownRunData(inputs: OwnRunInputs, options: RunOptions, args: TrainingArguments): RunData {
  const train = examples(inputs, inputs.train, inputs.trainName, args.seqLen);
  const heldOut = inputs.eval
    ? examples(inputs, inputs.eval.slice(0, options.evalRows), inputs.evalName ?? 'eval.jsonl', args.seqLen)
    : train.slice(0, options.evalRows);
  return {
    train,
    heldOut,
    heldOutName: inputs.eval ? (inputs.evalName ?? 'eval.jsonl') : `${inputs.trainName} (no held-out file)`,
    prompts: prompts(inputs, options),
    tokenizer: inputs.tokenizer,
  };
}
