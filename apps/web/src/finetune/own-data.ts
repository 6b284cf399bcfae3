// The user's JSONL rows as a run's data: tokenized as `peft finetune` reads a data file (text, prompt-completion
// with the prompt masked, chat rows with the folder's template, or token ids), and the prompt generated from before and after.
import { type DataRow, datasetExamples, type TrainingArguments, type TrainingExample } from '@peft/training';
import type { RunOptions } from '../options.js';
import type { PromptExample } from './examples.js';
import type { OwnRunInputs, RunData } from './run.js';

function examples(
  inputs: OwnRunInputs,
  rows: DataRow[],
  source: string,
  maxLength: number,
): TrainingExample[] {
  const { model, tokenizer, chatTemplate } = inputs;
  return datasetExamples(rows, source, {
    tokenizer,
    vocabSize: model.config.vocabSize,
    maxLength,
    eosTokenId: model.config.eosTokenIds[0] ?? null,
    chatTemplate,
    modelName: 'the chosen model folder',
  }).examples;
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
