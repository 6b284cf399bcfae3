import * as tf from '@tensorflow/tfjs-core';
import type { KvCache } from './kv-cache.js';

/** The score of a key a query must not see; finite, so fully masked (padding) rows stay NaN-free. */
export const MASKED_SCORE = -1e9;

/** Positions and masks of one forward call, computed on the host. */
export interface StepPlan {
  readonly batch: number;
  readonly time: number;
  /** Key length: cached positions + this call's. */
  readonly keyLength: number;
  /** Position id of every query, row-major [B, T]. */
  readonly positions: Int32Array;
  /** Every row's next position id after this call, for the cache. */
  readonly nextPositions: number[];
  /** This call's attention mask, row-major [B, T] (all ones when none was given). */
  readonly mask: Uint8Array;
  /** The mask for a sliding window (or `null` = full causal), laid out for `groups` query heads per KV head. */
  attentionMask(window: number | null, groups: number): AttentionMask;
}

/**
 * How scores [B, kvH, groups·T, S] are masked: `scores · keep + bias`. `bias` is 0 where a query may
 * attend and `MASKED_SCORE` where it may not. `keep` (0 where masked) is present only when some
 * query sees no key at all (a left-padding position): its scores then leave the computation
 * entirely, so its softmax is uniform and, as in the forward values, independent of q and k.
 * (Without it the gradient would follow s - 1e9, whose float32 value does not depend on s.)
 */
export interface AttentionMask {
  readonly bias: tf.Tensor4D;
  readonly keep: tf.Tensor4D | null;
}

/**
 * Plans positions and masks for `time` new tokens per row.
 *
 * Unless `positionIds` are given, a token's position counts only the real (mask = 1) tokens before
 * it in its row, as transformers' `generate` does; so a left-padded row gets exactly the logits of
 * the same row without padding. (transformers' plain forward without `position_ids` numbers padding
 * too.) A query sees key j when j is not padding, j is not in its future and, with a sliding
 * window w, it is fewer than w positions back.
 */
export function planStep(options: {
  batch: number;
  time: number;
  mask: Uint8Array | null;
  positionIds: Int32Array | null;
  cache: KvCache | undefined;
}): StepPlan {
  const { batch, time, cache } = options;
  const past = cache?.length ?? 0;
  const keyLength = past + time;
  const mask = options.mask ?? new Uint8Array(batch * time).fill(1);
  const positions = new Int32Array(batch * time);
  const nextPositions: number[] = [];
  for (let b = 0; b < batch; b++) {
    let next = cache ? cache.nextPosition(b) : 0;
    for (let t = 0; t < time; t++) {
      const i = b * time + t;
      positions[i] = options.positionIds ? options.positionIds[i]! : next;
      if (mask[i] === 1) next = positions[i]! + 1;
    }
    nextPositions.push(next);
  }

  let uniform = true;
  const pastMasks: (readonly number[])[] = [];
  for (let b = 0; b < batch; b++) pastMasks.push(cache ? cache.pastMask(b) : []);
  for (let i = 0; i < mask.length && uniform; i++) uniform = mask[i] === 1;
  for (const row of pastMasks) if (uniform) uniform = row.every((m) => m === 1);

  const attentionMask = (window: number | null, groups: number): AttentionMask => {
    const rows = uniform ? 1 : batch;
    const bias = new Float32Array(rows * groups * time * keyLength);
    const keep = new Float32Array(bias.length);
    let someRowSeesNothing = false;
    for (let b = 0; b < rows; b++) {
      const keyVisible = (j: number): boolean =>
        j < past ? pastMasks[b]![j] === 1 : mask[b * time + j - past] === 1;
      for (let t = 0; t < time; t++) {
        const query = past + t;
        const rowStart = (b * groups * time + t) * keyLength;
        let seen = 0;
        for (let j = 0; j < keyLength; j++) {
          const visible = j <= query && (window === null || query - j < window) && keyVisible(j);
          bias[rowStart + j] = visible ? 0 : MASKED_SCORE;
          keep[rowStart + j] = visible ? 1 : 0;
          if (visible) seen++;
        }
        if (seen === 0) someRowSeesNothing = true;
        // Every query head of a KV group sees the same mask.
        for (let g = 1; g < groups; g++) {
          bias.copyWithin(rowStart + g * time * keyLength, rowStart, rowStart + keyLength);
          keep.copyWithin(rowStart + g * time * keyLength, rowStart, rowStart + keyLength);
        }
      }
    }
    const shape: [number, number, number, number] = [rows, 1, groups * time, keyLength];
    return { bias: tf.tensor4d(bias, shape), keep: someRowSeesNothing ? tf.tensor4d(keep, shape) : null };
  };

  return { batch, time, keyLength, positions, nextPositions, mask, attentionMask };
}
