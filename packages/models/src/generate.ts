import { TorchGenerator } from '@peft/core';
import type * as tf from '@tensorflow/tfjs-core';
import { InputError } from './errors.js';
import type { LlamaForCausalLM } from './model.js';
import { pickToken, type SamplingOptions, validateSampling } from './sampling.js';

export interface GenerateOptions {
  /** Tokens to add per row at most (default 20). */
  maxNewTokens?: number;
  /** Sample instead of greedy argmax (default false). */
  doSample?: boolean;
  /** Default 1. */
  temperature?: number;
  /** Default 50, as transformers; 0 disables. Only used when sampling. */
  topK?: number;
  /** Default 1 (disabled). Only used when sampling. */
  topP?: number;
  /** Seed of the sampling stream (default 0): the same seed, prompt and model give the same tokens. */
  seed?: number | bigint;
  /** A row stops after producing one of these (default: the config's `eos_token_id`). */
  eosTokenId?: number | readonly number[];
  /** Fills the left padding of shorter prompts (default: config pad, else eos, else 0); never attended to. */
  padTokenId?: number;
  /**
   * Reuse keys and values of earlier tokens (default true). false recomputes the whole sequence
   * every step, which is slow and exists to check the cache.
   */
  useCache?: boolean;
}

export type FinishReason = 'eos' | 'length';

export interface GenerateResult {
  /** New tokens per row (an eos that stopped the row included). */
  tokens: number[][];
  finishReasons: FinishReason[];
}

/**
 * Continues each prompt. Prompts of different lengths are left-padded into one batch; each row's
 * positions count its real tokens only, so a row's tokens equal those it gets alone (up to float
 * rounding between batched and single matmuls). Logits are read with `await data()`, so the loop
 * does not block a browser's main thread on WebGPU.
 */
export async function generate(
  model: LlamaForCausalLM,
  prompts: readonly number[] | readonly (readonly number[])[],
  options: GenerateOptions = {},
): Promise<GenerateResult> {
  const rows = normalisePrompts(prompts);
  const { config } = model;
  const maxNewTokens = options.maxNewTokens ?? 20;
  if (!Number.isInteger(maxNewTokens) || maxNewTokens < 0) {
    throw new InputError(`maxNewTokens must be a non-negative integer, got ${maxNewTokens}`);
  }
  const sampling: SamplingOptions = {
    doSample: options.doSample ?? false,
    temperature: options.temperature ?? 1,
    topK: options.topK ?? 50,
    topP: options.topP ?? 1,
  };
  validateSampling(sampling);
  const eos = new Set(
    options.eosTokenId === undefined
      ? config.eosTokenIds
      : typeof options.eosTokenId === 'number'
        ? [options.eosTokenId]
        : options.eosTokenId,
  );
  const pad = options.padTokenId ?? config.padTokenId ?? config.eosTokenIds[0] ?? 0;
  const generator = new TorchGenerator(options.seed ?? 0);
  const useCache = options.useCache ?? true;

  const batch = rows.length;
  const promptLength = Math.max(...rows.map((r) => r.length));
  // Left padding keeps every row's last token in the last column, where logits are read.
  const ids: number[][] = rows.map((r) => [...new Array<number>(promptLength - r.length).fill(pad), ...r]);
  const mask: number[][] = rows.map((r) => [
    ...new Array<number>(promptLength - r.length).fill(0),
    ...r.map(() => 1),
  ]);
  const tokens: number[][] = rows.map(() => []);
  const finishReasons: FinishReason[] = rows.map(() => 'length');
  const done = new Array<boolean>(batch).fill(false);

  const cache = useCache ? model.createCache(batch) : undefined;
  try {
    let stepIds = ids;
    let stepMask = mask;
    for (let step = 0; step < maxNewTokens && done.includes(false); step++) {
      const { logits } = model.forward({
        inputIds: stepIds,
        attentionMask: stepMask,
        cache,
        logitsToKeep: 1,
      });
      const values = await readAndDispose(logits);
      const vocab = config.vocabSize;
      const next: number[] = [];
      for (let b = 0; b < batch; b++) {
        if (done[b]) {
          next.push(pad);
          continue;
        }
        const token = pickToken(values.subarray(b * vocab, (b + 1) * vocab), sampling, generator);
        tokens[b]!.push(token);
        next.push(token);
        if (eos.has(token)) {
          done[b] = true;
          finishReasons[b] = 'eos';
        }
      }
      for (let b = 0; b < batch; b++) {
        ids[b]!.push(next[b]!);
        mask[b]!.push(1);
      }
      stepIds = useCache ? next.map((t) => [t]) : ids;
      stepMask = useCache ? next.map(() => [1]) : mask;
    }
  } finally {
    cache?.dispose();
  }
  return { tokens, finishReasons };
}

async function readAndDispose(logits: tf.Tensor): Promise<Float32Array> {
  try {
    return (await logits.data()) as Float32Array;
  } finally {
    logits.dispose();
  }
}

function normalisePrompts(
  prompts: readonly number[] | readonly (readonly number[])[],
): readonly (readonly number[])[] {
  if (prompts.length === 0) throw new InputError('generate needs at least one prompt');
  const rows =
    typeof prompts[0] === 'number'
      ? [prompts as readonly number[]]
      : (prompts as readonly (readonly number[])[]);
  rows.forEach((row, i) => {
    if (!Array.isArray(row) || row.length === 0)
      throw new InputError(`prompt ${i} is empty; it needs at least one token (e.g. BOS)`);
  });
  return rows;
}
