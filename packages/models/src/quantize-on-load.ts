// Quantizing while a model loads, with any registered quantizer: each dense projection weight becomes a quantized
// layer as soon as it is read, so a model is never held whole in float precision (a 1B-parameter model would need
// 4 GB of it). One implementation for `peft finetune --quantize`, the web app and library users.
import { DenseLinear, type HostTensor, isOutputHead, type Quantizer, toFloat32 } from '@peft/core';
import * as tf from '@tensorflow/tfjs-core';
import type { QuantizeLinear } from './load.js';

/** What a load quantized: the quantizer and its resolved options, the layers, and their weights' bytes before and after. */
export interface LoadQuantization {
  readonly quantizer: string;
  readonly options: Readonly<Record<string, unknown>>;
  readonly paths: string[];
  denseBytes: number;
  quantizedBytes: number;
}

function denseFromHost(weight: HostTensor, bias: HostTensor | null): DenseLinear {
  const [out, inFeatures] = weight.shape as [number, number];
  const w = tf.tensor2d(toFloat32(weight), [out, inFeatures]);
  const b = bias ? tf.tensor1d(toFloat32(bias)) : null;
  try {
    return new DenseLinear(w, b, { storageDType: weight.dtype });
  } finally {
    tf.dispose(b ? [w, b] : [w]);
  }
}

/**
 * A `loadPretrained` / `loadLlama` hook that quantizes every dense projection but the output head (as
 * transformers' `load_in_4bit` keeps `lm_head` dense) with `quantizer` and its `options` (defaults filled in by
 * the quantizer), and the record it fills in as layers load. Layers a quantized folder already stores
 * (`*-bnb-4bit`) are never passed to the hook and stay as they are. The dense copy of a weight lives only until
 * its quantized layer exists.
 */
export function quantizeOnLoad(
  quantizer: Quantizer,
  options: Readonly<Record<string, unknown>> = {},
): { quantizeLinear: QuantizeLinear; result: LoadQuantization } {
  const resolved = quantizer.resolveOptions(options);
  const result: LoadQuantization = {
    quantizer: quantizer.name,
    options: resolved,
    paths: [],
    denseBytes: 0,
    quantizedBytes: 0,
  };
  const quantizeLinear: QuantizeLinear = (weight, { path, bias }) => {
    if (isOutputHead(path)) return null;
    const dense = denseFromHost(weight, bias);
    try {
      const layer = quantizer.quantize(dense, resolved, path);
      result.paths.push(path);
      result.denseBytes += dense.storageBytes;
      result.quantizedBytes += layer.storageBytes;
      return layer;
    } finally {
      dense.dispose();
    }
  };
  return { quantizeLinear, result };
}
