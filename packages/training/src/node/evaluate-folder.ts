// Evaluating a model folder, with an adapter folder if given, over a JSONL file.
import type { PeftModel } from '@peft/adapter-bridge';
import { evaluableModel } from '../adapters.js';
import { type EvalResult, evaluate } from '../evaluate.js';
import { loadAdapterFolder } from './adapters.js';
import { readDataset } from './dataset.js';
import { type BackendOptions, ensureBackend } from './finetune.js';
import { loadModelFolder, type QuantizeOptions } from './model-folder.js';

export interface EvaluateFolderOptions extends QuantizeOptions, BackendOptions {
  /** The Hugging Face model folder. */
  model: string;
  /** JSONL of `{"text"}`, `{"prompt", "completion"}`, `{"messages"}` or `{"input_ids", "labels"?}` rows. */
  data: string;
  /** Chat rows count the loss of their assistant turns only (default true), as `finetune` trains them. */
  assistantOnlyLoss?: boolean;
  /** A PEFT adapter folder to apply. */
  adapter?: string;
  /** Sequences per forward pass (default 8). */
  batchSize?: number;
  /** Examples are cut to this many tokens (default: the model's max positions). */
  seqLen?: number;
  signal?: AbortSignal;
  onProgress?(done: number, total: number): void;
}

/** Mean token loss and perplexity of a model folder (with an adapter folder, if given) over a JSONL file. */
export async function evaluateFolder(options: EvaluateFolderOptions): Promise<EvalResult> {
  await ensureBackend(options);
  const base = await loadModelFolder(options.model, options);
  const { model, config } = base;
  let peft: PeftModel | null = null;
  try {
    if (options.adapter) peft = await loadAdapterFolder(model, options.adapter, { modelName: options.model });
    const seqLen = options.seqLen ?? config.maxPositionEmbeddings;
    const eos = config.eosTokenIds[0] ?? null;
    const data = await readDataset(options.data, {
      tokenizer: base.tokenizer,
      vocabSize: config.vocabSize,
      maxLength: seqLen,
      eosTokenId: eos,
      modelDir: options.model,
      ...(options.assistantOnlyLoss === undefined ? {} : { assistantOnlyLoss: options.assistantOnlyLoss }),
    });
    // The examples, labels included: the loss is taken on the tokens a run learns (completions, assistant
    // turns), as finetune's eval and test losses are.
    return await evaluate(evaluableModel(model), data.examples, {
      batchSize: options.batchSize ?? 8,
      seqLen,
      padTokenId: config.padTokenId ?? eos ?? 0,
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    });
  } finally {
    // The adapter's shared state (VeRA's projections) lives outside the model tree.
    if (peft) peft.dispose();
    else model.dispose();
  }
}
