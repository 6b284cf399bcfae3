import { IGNORE_INDEX } from '@peft/models';
import type { Batch, EvaluableModel, TrainableModel } from '@peft/training';

/** Batch lengths are rounded up to a multiple of this many tokens. */
export const SHAPE_BUCKET = 8;

/**
 * `batch` widened to a length that is a multiple of `multiple` (at most `maxSeqLen`): more right padding,
 * with pad ids, attention mask 0 and ignored labels, so the loss over its predicted tokens is unchanged.
 * Why: tfjs' WebGPU backend compiles a shader per tensor shape, and on a CPU-emulated adapter a compile
 * costs far more than the math, so a handful of lengths instead of one per batch makes steps many times
 * faster; elsewhere the few extra padding tokens cost little.
 */
export function bucketedBatch(
  batch: Batch,
  padId: number,
  maxSeqLen: number,
  multiple = SHAPE_BUCKET,
): Batch {
  const seqLen = Math.max(batch.seqLen, Math.min(maxSeqLen, Math.ceil(batch.seqLen / multiple) * multiple));
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

/** How `bucketedBatch` widens the batches a model is given. */
export interface BucketOptions {
  padId: number;
  maxSeqLen: number;
}

/** `model` for evaluation, each batch widened by `bucketedBatch` before its loss. */
export function bucketedEvaluable(model: EvaluableModel, options: BucketOptions): EvaluableModel {
  return {
    loss: (batch) => model.loss(bucketedBatch(batch, options.padId, options.maxSeqLen)),
    setTraining: (on) => model.setTraining(on),
    get training() {
      return model.training;
    },
  };
}

/**
 * `model` for training, each batch widened by `bucketedBatch` before its loss; everything else as it is,
 * the run's random stream included (adapter dropout draws from it).
 */
export function bucketedTrainable(model: TrainableModel, options: BucketOptions): TrainableModel {
  return {
    loss: (batch) => model.loss(bucketedBatch(batch, options.padId, options.maxSeqLen)),
    ...(model.inRandomStream ? { inRandomStream: <T>(fn: () => T): T => model.inRandomStream!(fn) } : {}),
    trainableVariables: () => model.trainableVariables(),
    setTraining: (on) => model.setTraining(on),
    get training() {
      return model.training;
    },
    saveFiles: () => model.saveFiles(),
    randomState: () => model.randomState(),
    restoreRandomState: (state) => model.restoreRandomState(state),
  };
}
