import {
  applyToLastAxis,
  DenseLinear,
  type DType,
  fromFloat32,
  type QuantizedLinear,
  type StateDict,
  transposedRightIsFree,
} from '@peft/core';
import * as tf from '@tensorflow/tfjs-core';

/**
 * From this many rows of x the logits are x·Eᵀ, one product with a transpose flag, on any backend: it saves
 * transposing the [vocab, rows] product, which took longer than the product itself (Transpose of 49,152 x 341
 * floats: about 450 ms on wasm). Fewer rows (decoding) take x·Eᵀ too where the backend's kernel takes a transposed
 * right operand in place (@peft/backends on wasm: one SmolLM2 decoding step's logits in 6-9 ms against 18-20 ms for
 * E·xᵀ), and E·xᵀ elsewhere, where TensorFlow.js' wasm kernel runs a flagged product in a scalar loop.
 */
const NT_MIN_ROWS = 4;

/** Rows of the table per slice in the input gradient: a slice of Qwen2.5-0.5B's table is 29 MB. */
const ROWS_PER_SLICE = 8192;

/**
 * dy·E with E [vocab, hidden] taken in slices of rows. On wasm an unflagged product has XNNPACK pack its right
 * operand and cache the packed copy for as long as that tensor lives: multiplying by E itself would keep a
 * packed copy of the whole table for the whole run. Each slice is a tensor of its own, packed and freed with it.
 * A table of at most `rowsPerSlice` rows is small: it is multiplied whole.
 */
export function productWithTable(
  dy: tf.Tensor2D,
  table: tf.Tensor2D,
  rowsPerSlice = ROWS_PER_SLICE,
): tf.Tensor2D {
  const [vocab, hidden] = table.shape;
  // A table of one slice is multiplied as it is: copying it would cost more than its packed copy.
  if (vocab <= rowsPerSlice) return tf.matMul(dy, table);
  return tf.tidy(() => {
    let sum: tf.Tensor2D | null = null;
    for (let start = 0; start < vocab; start += rowsPerSlice) {
      const rows = Math.min(rowsPerSlice, vocab - start);
      const part: tf.Tensor2D = tf.tidy(() =>
        tf.matMul(tf.slice(dy, [0, start], [-1, rows]), tf.slice(table, [start, 0], [rows, hidden])),
      );
      if (sum === null) sum = part;
      else {
        const next = tf.add(sum, part) as tf.Tensor2D;
        tf.dispose([sum, part]);
        sum = next;
      }
    }
    return sum!;
  });
}

/**
 * The output head, reading a [vocab, hidden] table: the embedding's own variable when the embeddings are tied
 * (no copy), or the head's own weight as stored in the checkpoint. The forward pass computes the logits as x·Eᵀ
 * (from NT_MIN_ROWS rows, or wherever the flag is free) or (E·xᵀ)ᵀ, never with the table as an unflagged right operand, and the input gradient
 * dy·E in slices of rows (productWithTable).
 *
 * Why this layout: tfjs-backend-wasm runs an unflagged matMul on XNNPACK, which packs a private copy of the
 * right operand and caches it for as long as that tensor lives. A DenseLinear head keeps a transposed float32
 * copy of the table (x·Eᵀ on the fast path), so a tied model held the table four times: the embedding, the
 * transposed copy, and a packed copy of each. Here no product has the whole table as its right operand: the
 * table is held once. For Qwen2.5-0.5B (545 MB table) that is 1.6 GB less; for Llama-3.2-1B 3.2 GB.
 */
export class TiedHeadLinear implements QuantizedLinear {
  readonly specificationVersion = 'v1' as const;
  readonly scheme = 'dense';
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly bias = null;
  private readonly table: tf.Tensor2D;
  private readonly owned: boolean;
  private readonly storageDType: DType;

  /**
   * `table` is [vocab, hidden]: the embedding's own variable (tied: the head reads it, never disposes it), or,
   * with `owned`, the head's own weight, which it disposes.
   */
  constructor(table: tf.Tensor2D, options: { owned?: boolean; storageDType?: DType } = {}) {
    this.table = table;
    this.owned = options.owned ?? false;
    this.storageDType = options.storageDType ?? 'F32';
    [this.outFeatures, this.inFeatures] = table.shape;
  }

  /** The weight's bytes in its storage dtype (a tied head shares them with the embedding). */
  get storageBytes(): number {
    const bytes = this.storageDType === 'F16' || this.storageDType === 'BF16' ? 2 : 4;
    return this.inFeatures * this.outFeatures * bytes;
  }

  forward(x: tf.Tensor): tf.Tensor {
    return applyToLastAxis(x, this.inFeatures, (x2d) => {
      const op = tf.customGrad((...args: unknown[]) => {
        const input = args[0] as tf.Tensor2D;
        return {
          value: tf.tidy(() =>
            input.shape[0] >= NT_MIN_ROWS || transposedRightIsFree()
              ? tf.matMul(input, this.table, false, true)
              : // E·xᵀ: the table is the left operand, which XNNPACK does not pack or cache.
                tf.transpose(tf.matMul(this.table, tf.transpose(input))),
          ) as tf.Tensor2D,
          gradFunc: (dy: tf.Tensor) => productWithTable(dy as tf.Tensor2D, this.table),
        };
      });
      return op(x2d) as tf.Tensor2D;
    });
  }

  dequantize(): tf.Tensor2D {
    return tf.clone(this.table);
  }

  requantize(w: tf.Tensor2D): QuantizedLinear {
    return new DenseLinear(w, null, { storageDType: this.storageDType });
  }

  stateDict(prefix: string): StateDict {
    const dict: StateDict = new Map();
    dict.set(
      `${prefix}weight`,
      fromFloat32(this.table.dataSync() as Float32Array, this.table.shape, this.storageDType),
    );
    return dict;
  }

  /** Frees the weight if it is the head's own; a tied table is the embedding's. */
  dispose(): void {
    if (this.owned) this.table.dispose();
  }
}
