// Evaluating a model folder, with an adapter folder if given, over a JSONL file.
import type { PeftModel } from '@peft/adapter-bridge';
import { loadAdapterFolder } from './attach.js';
import { loadBaseModel, type QuantizeChoice } from './base-model.js';
import { readDataset } from './dataset.js';
import { type EvalResult, evaluateLoss } from './evaluate.js';

export interface EvaluateFolderOptions {
  data: string;
  adapter?: string;
  batchSize?: number;
  seqLen?: number;
  quantize?: QuantizeChoice;
  blocksize?: number;
  doubleQuant?: boolean;
}

/** Mean token loss and perplexity of a model folder (with an adapter folder, if given) over a JSONL file. */
export async function evaluateFolder(modelDir: string, options: EvaluateFolderOptions): Promise<EvalResult> {
  const base = await loadBaseModel(modelDir, {
    quantize: options.quantize ?? 'none',
    ...(options.blocksize === undefined ? {} : { blocksize: options.blocksize }),
    ...(options.doubleQuant === undefined ? {} : { doubleQuant: options.doubleQuant }),
  });
  const { model, config } = base;
  let peft: PeftModel | null = null;
  try {
    if (options.adapter) peft = await loadAdapterFolder(model, options.adapter, { modelName: modelDir });
    const seqLen = options.seqLen ?? config.maxPositionEmbeddings;
    const eos = config.eosTokenIds[0] ?? null;
    const data = await readDataset(options.data, {
      tokenizer: base.tokenizer,
      vocabSize: config.vocabSize,
      maxLength: seqLen,
      eosTokenId: eos,
    });
    return evaluateLoss(model, data.sequences, {
      batchSize: options.batchSize ?? 8,
      maxSeqLen: seqLen,
      padTokenId: config.padTokenId ?? eos ?? 0,
    });
  } finally {
    // The adapter's shared state (VeRA's projections) lives outside the model tree.
    if (peft) peft.dispose();
    else model.dispose();
  }
}
