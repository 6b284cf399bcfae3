import { PeftError } from '@peft/core';
import { asTrainingExample, type ExampleInput, IGNORE_LABEL } from './jsonl.js';

/** Seeded 32-bit generator (mulberry32): small state, so a sampler's position can be saved and resumed. */
function mulberry32(state: number): { next(): number; state(): number } {
  let s = state >>> 0;
  return {
    next() {
      s = (s + 0x6d2b79f5) >>> 0;
      let t = s;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    },
    state: () => s,
  };
}

/** A padded batch in the layout models take: row-major [batch, seqLen]. */
export interface Batch {
  readonly batchSize: number;
  readonly seqLen: number;
  readonly inputIds: Int32Array;
  /** 1 for real tokens, 0 for padding. */
  readonly attentionMask: Int32Array;
  /**
   * Each example's labels (its input ids when it has none), -100 (the ignore label) on padding and on
   * tokens not learned; models shift labels themselves.
   */
  readonly labels: Int32Array;
  /** Number of tokens that contribute to the loss (labelled tokens after the first of each row). */
  readonly predictedTokens: number;
}

/** Right-pads examples (token ids, or ids with labels) to the longest one (at most `maxSeqLen`). */
export function makeBatch(sequences: readonly ExampleInput[], padId: number, maxSeqLen: number): Batch {
  const examples = sequences.map(asTrainingExample);
  const seqLen = Math.min(maxSeqLen, Math.max(1, ...examples.map((e) => e.inputIds.length)));
  const n = sequences.length * seqLen;
  const inputIds = new Int32Array(n).fill(padId);
  const attentionMask = new Int32Array(n);
  const labels = new Int32Array(n).fill(-100);
  let predictedTokens = 0;
  examples.forEach(({ inputIds: ids, labels: given }, b) => {
    const targets = given ?? ids;
    const len = Math.min(ids.length, seqLen);
    for (let t = 0; t < len; t++) {
      const label = targets[t] ?? IGNORE_LABEL;
      inputIds[b * seqLen + t] = ids[t]!;
      attentionMask[b * seqLen + t] = 1;
      labels[b * seqLen + t] = label;
      // The first token is never a target: nothing before it predicts it.
      if (t > 0 && label !== IGNORE_LABEL) predictedTokens++;
    }
  });
  return { batchSize: sequences.length, seqLen, inputIds, attentionMask, labels, predictedTokens };
}

export interface SamplerState {
  readonly seed: number;
  readonly epoch: number;
  readonly position: number;
}

/** A saved sampler state that cannot belong to this data: resuming from it would read past the examples. */
export class SamplerStateError extends PeftError {
  constructor(message: string) {
    super('RESUME', message);
  }
}

/**
 * Checks a saved sampler state (a resumed run's, from a file) against the data it will draw from: every
 * state a run writes has the run's seed, an epoch that is a non-negative integer, and a position on a batch
 * boundary no further than the end of the examples (or one batch, when a batch holds them all).
 */
export function checkSamplerState(
  state: SamplerState,
  data: { size: number; batchSize: number; seed: number },
  where: string,
): void {
  const { size, batchSize, seed } = data;
  const fail = (detail: string) =>
    new SamplerStateError(
      `${where}: ${detail}; this checkpoint does not belong to this data and batch size: resume from another checkpoint or start a new run`,
    );
  if (typeof state !== 'object' || state === null) throw fail('"sampler" is not an object');
  if (state.seed !== seed)
    throw fail(`the sampler seed ${JSON.stringify(state.seed)} is not the run's seed ${seed}`);
  if (!Number.isSafeInteger(state.epoch) || state.epoch < 0) {
    throw fail(`the sampler epoch ${JSON.stringify(state.epoch)} is not a non-negative integer`);
  }
  const end = Math.max(size, batchSize);
  const position = state.position;
  if (!Number.isSafeInteger(position) || position < 0 || position > end || position % batchSize !== 0) {
    throw fail(
      `the sampler position ${JSON.stringify(position)} is not a batch boundary (a multiple of ${batchSize}) within the ${size} training examples`,
    );
  }
}

/**
 * Yields batches of example indices, reshuffled each epoch from (seed, epoch). Its state is three
 * numbers, so a resumed run continues with exactly the batches an uninterrupted run would have seen.
 */
export class BatchSampler {
  private order: number[] = [];
  private epoch: number;
  private position: number;

  /** `where` names the saved state in errors (a resumed run's trainer_state.json). */
  constructor(
    private readonly size: number,
    private readonly batchSize: number,
    private readonly seed: number,
    state?: SamplerState,
    where = 'the sampler state',
  ) {
    if (state) checkSamplerState(state, { size, batchSize, seed }, where);
    this.epoch = state?.epoch ?? 0;
    this.position = state?.position ?? 0;
    this.shuffle();
  }

  private shuffle(): void {
    const rng = mulberry32((this.seed ^ Math.imul(this.epoch + 1, 0x9e3779b1)) >>> 0);
    this.order = Array.from({ length: this.size }, (_, i) => i);
    for (let i = this.order.length - 1; i > 0; i--) {
      const j = Math.floor(rng.next() * (i + 1));
      [this.order[i], this.order[j]] = [this.order[j]!, this.order[i]!];
    }
  }

  next(): number[] {
    if (this.position + this.batchSize > this.size && this.position > 0) {
      this.epoch++;
      this.position = 0;
      this.shuffle();
    }
    const batch = this.order.slice(this.position, this.position + this.batchSize);
    this.position += this.batchSize;
    return batch;
  }

  state(): SamplerState {
    return { seed: this.seed, epoch: this.epoch, position: this.position };
  }
}

/** Splits examples into consecutive batches in order (for evaluation). */
export function* sequentialBatches<T>(items: T[], batchSize: number): Generator<T[]> {
  for (let i = 0; i < items.length; i += batchSize) yield items.slice(i, i + batchSize);
}
