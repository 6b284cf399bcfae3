import * as tf from '@tensorflow/tfjs-core';
import { InputError } from './errors.js';
import { shiftedTargets } from './loss.js';
import { vectorJacobianProduct } from './recompute.js';
import type { HostBatch } from './token-batch.js';

/** A chunk's logits stay near this many bytes of float32 by default. */
export const DEFAULT_LOSS_CHUNK_BYTES = 64 * 2 ** 20;

/** Tokens per loss chunk so that a chunk's [tokens, vocab] float32 logits take about `bytes`. */
export function lossChunkTokens(vocabSize: number, bytes = DEFAULT_LOSS_CHUNK_BYTES): number {
  return Math.max(1, Math.floor(bytes / (vocabSize * 4)));
}

/** The output head as the loss sees it: a linear layer (or an adapter around one) and its trainable variables. */
export interface LossHead {
  readonly outFeatures: number;
  forward(x: tf.Tensor): tf.Tensor;
  trainableVariables(): tf.Variable[];
}

export interface ChunkedLossOptions {
  /** Tokens per chunk (default `lossChunkTokens(head.outFeatures)`). */
  chunkTokens?: number;
}

interface Span {
  readonly start: number;
  readonly size: number;
}

/**
 * The causal-LM loss of `causalLmLoss` (labels shifted inside, `IGNORE_INDEX` skipped, mean over the
 * labels that count) from the final hidden states [B, T, hidden] and the output head, without ever
 * holding the [B·T, vocab] logits: chunks of at most `chunkTokens` positions go through the head
 * and the cross-entropy one at a time, in the forward pass and again in the backward pass, which
 * recomputes each chunk's logits to take the gradient of the hidden states (and of the head's
 * trainable variables, if it has any; a frozen head gets none). Stretches of positions without a
 * label are skipped. The result and gradients equal the unchunked loss's up to float32 rounding.
 */
export function chunkedCausalLmLoss(
  hidden: tf.Tensor3D,
  head: LossHead,
  labels: HostBatch,
  options: ChunkedLossOptions = {},
): tf.Scalar {
  const [batch, time, width] = hidden.shape;
  if (labels.batch !== batch || labels.time !== time) {
    throw new InputError(
      `labels are [${labels.batch}, ${labels.time}] but the hidden states are [${batch}, ${time}, ${width}]`,
    );
  }
  const vocab = head.outFeatures;
  const chunkTokens = options.chunkTokens ?? lossChunkTokens(vocab);
  if (!Number.isSafeInteger(chunkTokens) || chunkTokens <= 0) {
    throw new InputError(`chunkTokens must be a positive integer, got ${chunkTokens}`);
  }
  const { targets, weights, count } = shiftedTargets(labels);
  if (count === 0) return tf.scalar(0);
  const spans = labelledSpans(weights, chunkTokens);
  const rows = batch * time;
  const variables = head.trainableVariables();

  // The loss summed over one span's positions, from that span's rows of the hidden states.
  const chunkLoss = (rowsOfSpan: tf.Tensor2D, span: Span): tf.Scalar =>
    tf.tidy(() => {
      const logits = head.forward(rowsOfSpan) as tf.Tensor2D;
      const end = span.start + span.size;
      return crossEntropySum(logits, targets.subarray(span.start, end), weights.subarray(span.start, end));
    });

  const run = tf.customGrad((...args: unknown[]) => {
    const h = args[0] as tf.Tensor2D;
    (args[args.length - 1] as tf.GradSaveFunc)([h]);
    const value = tf.tidy(() => {
      let total: tf.Scalar = tf.scalar(0);
      for (const span of spans) {
        const next = tf.tidy(() => tf.add(total, chunkLoss(sliceRows(h, span), span)) as tf.Scalar);
        total.dispose();
        total = next;
      }
      return tf.div(total, count) as tf.Scalar;
    });
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.tidy(() => {
          const savedH = saved[0] as tf.Tensor2D;
          const scale = tf.div(dy, count);
          const parts: tf.Tensor[] = [];
          const variableGrads: (tf.Tensor | null)[] = variables.map(() => null);
          let cursor = 0;
          for (const span of spans) {
            if (span.start > cursor) parts.push(tf.zeros([span.start - cursor, width]));
            const chunk = sliceRows(savedH, span);
            const [dChunk, ...dVariables] = vectorJacobianProduct(
              () => chunkLoss(chunk, span),
              [chunk, ...variables],
              scale,
            );
            chunk.dispose();
            parts.push(dChunk!);
            dVariables.forEach((g, i) => {
              const before = variableGrads[i];
              variableGrads[i] = before ? tf.add(before, g) : g;
              if (before) {
                before.dispose();
                g.dispose();
              }
            });
            cursor = span.start + span.size;
          }
          if (cursor < rows) parts.push(tf.zeros([rows - cursor, width]));
          const dh = parts.length === 1 ? parts[0]! : tf.concat(parts, 0);
          return [dh, ...variableGrads.map((g, i) => g ?? tf.zerosLike(variables[i]!))];
        }),
    };
  });
  return tf.tidy(() => run(tf.reshape(hidden, [rows, width]), ...variables) as tf.Scalar);
}

function sliceRows(h: tf.Tensor2D, span: Span): tf.Tensor2D {
  return tf.slice(h, [span.start, 0], [span.size, -1]);
}

/**
 * Windows of at most `chunkTokens` positions that cover every position whose weight is 1, each
 * starting and ending on such a position: stretches without labels (prompts, padding) are skipped.
 */
export function labelledSpans(weights: Float32Array, chunkTokens: number): Span[] {
  const spans: Span[] = [];
  let i = 0;
  while (i < weights.length) {
    if (weights[i] === 0) {
      i++;
      continue;
    }
    let last = i;
    const limit = Math.min(weights.length, i + chunkTokens);
    for (let j = i; j < limit; j++) if (weights[j] !== 0) last = j;
    spans.push({ start: i, size: last - i + 1 });
    i = last + 1;
  }
  return spans;
}

/**
 * Σ w_t · (logsumexp(logits_t) − logits_t[target_t]) over the rows of one chunk, with the analytic
 * gradient (softmax − onehot(target)) · w · dy: only the chunk's logits are kept for it, instead of
 * the several [rows, vocab] intermediates the composed ops would save.
 */
function crossEntropySum(logits: tf.Tensor2D, targets: Int32Array, weights: Float32Array): tf.Scalar {
  const [rows, vocab] = logits.shape;
  const run = tf.customGrad((...args: unknown[]) => {
    const x = args[0] as tf.Tensor2D;
    (args[1] as tf.GradSaveFunc)([x]);
    const value = tf.tidy(() => {
      const flatIndex = new Int32Array(rows);
      for (let r = 0; r < rows; r++) flatIndex[r] = r * vocab + targets[r]!;
      // gather is fine here: a customGrad's forward is not recorded, so its gradient is never needed.
      const picked = tf.gather(tf.reshape(x, [-1]), tf.tensor1d(flatIndex, 'int32'));
      const perRow = tf.sub(tf.logSumExp(x, -1), picked);
      return tf.sum(tf.mul(perRow, tf.tensor1d(weights))) as tf.Scalar;
    });
    return {
      value,
      // Each [rows, vocab] step is freed as soon as the next exists (one tidy would hold them all until the end);
      // the logits are not needed after the softmax. The one-hot stays int32: tfjs-backend-wasm's OneHot ignores a
      // float32 dtype and writes integer bits, so the subtraction does the conversion, as before.
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const scale = tf.tidy(() => tf.mul(tf.reshape(tf.tensor1d(weights), [rows, 1]), dy));
        const probs = tf.softmax(saved[0] as tf.Tensor2D);
        saved[0]!.dispose();
        const hot = tf.tidy(() => tf.oneHot(tf.tensor1d(targets, 'int32'), vocab));
        const delta = tf.sub(probs, hot);
        tf.dispose([probs, hot]);
        const gradient = tf.mul(delta, scale);
        tf.dispose([delta, scale]);
        return gradient;
      },
    };
  });
  return run(logits) as tf.Scalar;
}
