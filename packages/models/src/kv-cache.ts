import * as tf from '@tensorflow/tfjs-core';

/** One layer's cached keys and values, [B, kvHeads, S, headDim], after RoPE. */
export class LayerCache {
  private keys: tf.Tensor4D | null = null;
  private values: tf.Tensor4D | null = null;

  /** Appends this step's keys/values along the sequence axis and returns the full ones (owned by the cache). */
  append(k: tf.Tensor4D, v: tf.Tensor4D): [tf.Tensor4D, tf.Tensor4D] {
    const nextKeys = this.keys ? (tf.concat([this.keys, k], 2) as tf.Tensor4D) : k.clone();
    const nextValues = this.values ? (tf.concat([this.values, v], 2) as tf.Tensor4D) : v.clone();
    // The cache outlives the forward pass's tf.tidy scope.
    tf.keep(nextKeys);
    tf.keep(nextValues);
    this.keys?.dispose();
    this.values?.dispose();
    this.keys = nextKeys;
    this.values = nextValues;
    return [nextKeys, nextValues];
  }

  dispose(): void {
    this.keys?.dispose();
    this.values?.dispose();
    this.keys = null;
    this.values = null;
  }
}

/**
 * Keys and values of every token seen so far, so generation feeds only new tokens. Besides the
 * tensors it remembers, per batch row, which cached positions were padding and the position id
 * the row's next real token gets.
 */
export class KvCache {
  readonly batch: number;
  private readonly layers: LayerCache[];
  private readonly maskRows: number[][];
  private readonly nextPositions: number[];

  constructor(numLayers: number, batch: number) {
    this.batch = batch;
    this.layers = Array.from({ length: numLayers }, () => new LayerCache());
    this.maskRows = Array.from({ length: batch }, () => []);
    this.nextPositions = new Array<number>(batch).fill(0);
  }

  /** Number of cached positions (padding included). */
  get length(): number {
    return this.maskRows[0]?.length ?? 0;
  }

  layer(index: number): LayerCache {
    const found = this.layers[index];
    if (!found) throw new RangeError(`KvCache has ${this.layers.length} layers, asked for layer ${index}`);
    return found;
  }

  /** Attention mask (1 = token, 0 = padding) of cached positions for row `b`. */
  pastMask(b: number): readonly number[] {
    return this.maskRows[b]!;
  }

  nextPosition(b: number): number {
    return this.nextPositions[b]!;
  }

  /** Records a completed step: its mask per row and each row's next position. */
  commit(mask: Uint8Array, time: number, nextPositions: readonly number[]): void {
    for (let b = 0; b < this.batch; b++) {
      const row = this.maskRows[b]!;
      for (let t = 0; t < time; t++) row.push(mask[b * time + t]!);
      this.nextPositions[b] = nextPositions[b]!;
    }
  }

  dispose(): void {
    for (const layer of this.layers) layer.dispose();
  }
}
