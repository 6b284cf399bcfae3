import * as tf from '@tensorflow/tfjs-core';

/**
 * raw ⊙ keep + bias, the masked attention scores, keeping only the mask for the backward pass. tf.mul would also
 * save `raw`, which its gradient with respect to a constant mask never reads: one [rows, keys] tensor per head and
 * layer, about 270 MB of SmolLM2's 30 layers at 4 x 256 tokens. `keep` and `bias` are constants (no gradient); they
 * broadcast to `raw`'s shape. Values and gradients are those of the composed ops, bit for bit.
 */
export function maskScores<T extends tf.Tensor>(raw: T, keep: tf.Tensor | null, bias: tf.Tensor): T {
  const masks = keep ? [keep.shape, bias.shape] : [bias.shape];
  if (!masks.every((shape) => broadcastsTo(shape, raw.shape)))
    throw new Error(`maskScores: the masks must broadcast to the scores' shape [${raw.shape}]`);
  const op = tf.customGrad((...args: unknown[]) => {
    const x = args[0] as tf.Tensor;
    const save = args[1] as tf.GradSaveFunc;
    if (keep) save([keep]);
    return {
      value: tf.tidy(() => tf.add(keep ? tf.mul(x, keep) : x, bias)),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => (keep ? tf.mul(dy, saved[0]!) : tf.clone(dy)),
    };
  });
  return op(raw) as T;
}

/** Whether a tensor of shape `from` broadcasts to `to` without growing it (numpy's rule, aligned on the right). */
function broadcastsTo(from: readonly number[], to: readonly number[]): boolean {
  if (from.length > to.length) return false;
  const lead = to.length - from.length;
  return from.every((d, i) => d === 1 || d === to[lead + i]);
}
