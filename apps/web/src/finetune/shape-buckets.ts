import { IGNORE_INDEX, type LlamaForCausalLM } from '@peft/models';
import { type Batch, makeBatch, sequentialBatches } from '@peft/training';

/**
 * Pads sequences into a batch whose length is rounded up to a multiple of `multiple` (at most `maxSeqLen`).
 * Why: tfjs' WebGPU backend compiles a shader per tensor shape, and on a CPU-emulated adapter a compile
 * costs far more than the math, so a handful of lengths instead of one per batch makes steps many times faster;
 * elsewhere the few extra padding tokens cost little.
 */
export function bucketedBatch(sequences: number[][], padId: number, maxSeqLen: number, multiple = 8): Batch {
  const batch = makeBatch(sequences, padId, maxSeqLen);
  const seqLen = Math.min(maxSeqLen, Math.ceil(batch.seqLen / multiple) * multiple);
  if (seqLen === batch.seqLen) return batch;
  const widen = (values: Int32Array, fill: number) => {
    const out = new Int32Array(batch.batchSize * seqLen).fill(fill);
    for (let b = 0; b < batch.batchSize; b++) {
      out.set(values.subarray(b * batch.seqLen, (b + 1) * batch.seqLen), b * seqLen);
    }
    return out;
  };
  return {
    ...batch,
    seqLen,
    inputIds: widen(batch.inputIds, padId),
    attentionMask: widen(batch.attentionMask, 0),
    labels: widen(batch.labels, IGNORE_INDEX),
  };
}

/** A padded batch as the nested rows `LlamaForCausalLM.forward` takes. */
export function batchInput(batch: Batch): {
  inputIds: number[][];
  attentionMask: number[][];
  labels: number[][];
} {
  const rows = (values: Int32Array) =>
    Array.from({ length: batch.batchSize }, (_, b) =>
      Array.from(values.subarray(b * batch.seqLen, (b + 1) * batch.seqLen)),
    );
  return {
    inputIds: rows(batch.inputIds),
    attentionMask: rows(batch.attentionMask),
    labels: rows(batch.labels),
  };
}

/**
 * Mean next-token cross-entropy over every predicted token of `sequences` (each batch's mean weighted by
 * its token count, so the result does not depend on how rows fall into batches). Reads each batch's loss
 * asynchronously, so a WebGPU page is not blocked while the GPU works.
 */
export async function heldOutLoss(
  model: LlamaForCausalLM,
  sequences: number[][],
  options: { padId: number; batchSize: number; maxSeqLen: number },
): Promise<number> {
  let weighted = 0;
  let tokens = 0;
  for (const rows of sequentialBatches(sequences, options.batchSize)) {
    const batch = bucketedBatch(rows, options.padId, options.maxSeqLen);
    if (batch.predictedTokens === 0) continue;
    const loss = model.loss(batchInput(batch));
    try {
      weighted += (await loss.data())[0]! * batch.predictedTokens;
    } finally {
      loss.dispose();
    }
    tokens += batch.predictedTokens;
  }
  return tokens === 0 ? Number.NaN : weighted / tokens;
}
