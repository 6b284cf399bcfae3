// Quantizing while the model loads: each dense projection weight becomes a quantized layer as soon as it is
// read, so a model is never held whole in float precision (a 1B-parameter model would need 4 GB of it).
import { DenseLinear, getQuantizer, type HostTensor, isOutputHead, toFloat32 } from '@peft/core';
import type { QuantizeLinear } from '@peft/models';
import * as tf from '@tensorflow/tfjs-core';

/** What was quantized on load: the layers, and the bytes their weights took stored dense and quantized. */
export interface LoadQuantization {
  quantizer: string;
  paths: string[];
  denseBytes: number;
  quantizedBytes: number;
}

/** bitsandbytes' settings as `load_in_4bit` with QLoRA's (and `peft demo`): blocks of 64, double quantization. */
export const BNB_OPTIONS = { blocksize: 64, doubleQuant: true };

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
 * A `loadPretrained` hook that quantizes every dense projection but the output head with the registered
 * quantizer `name` (as `peft finetune --quantize` does), and the record it fills in. Layers a quantized folder
 * already stores (`*-bnb-4bit`) are not passed to it and stay as they are.
 */
export function quantizeOnLoad(name: string): { hook: QuantizeLinear; result: LoadQuantization } {
  const quantizer = getQuantizer(name);
  const options = quantizer.resolveOptions(BNB_OPTIONS);
  const result: LoadQuantization = { quantizer: name, paths: [], denseBytes: 0, quantizedBytes: 0 };
  const hook: QuantizeLinear = (weight, { path, bias }) => {
    if (isOutputHead(path)) return null;
    const dense = denseFromHost(weight, bias);
    try {
      const layer = quantizer.quantize(dense, options, path);
      result.paths.push(path);
      result.denseBytes += dense.storageBytes;
      result.quantizedBytes += layer.storageBytes;
      return layer;
    } finally {
      dense.dispose();
    }
  };
  return { hook, result };
}
