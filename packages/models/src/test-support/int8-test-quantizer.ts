// A quantizer and linear format no package ships ("int8-test"), registered by the folder tests, so they
// prove quantizeFolder / dequantizeFolder work for any registered quantizer, by name.
import {
  type LinearFormat,
  type OptionSpec,
  type Quantizer,
  registerLinearFormat,
  registerQuantizer,
  resolveOptionValues,
  toFloat32,
  unregisterLinearFormat,
  unregisterQuantizer,
} from '@peft/core';
import { Int8TestLinear } from './int8-test-linear.js';

const OPTIONS: readonly OptionSpec[] = [
  { name: 'levels', type: 'int', description: 'largest code magnitude', default: 127, choices: [7, 127] },
];

/** Per-row absmax codes in [-levels, levels] and their scales: the reference the tests compare with. */
export function int8Codes(
  values: Float32Array,
  out: number,
  inFeatures: number,
  levels: number,
): { codes: Int8Array; scales: Float32Array } {
  const codes = new Int8Array(values.length);
  const scales = new Float32Array(out);
  for (let r = 0; r < out; r++) {
    let absmax = 0;
    for (let c = 0; c < inFeatures; c++) absmax = Math.max(absmax, Math.abs(values[r * inFeatures + c]!));
    scales[r] = absmax / levels;
    for (let c = 0; c < inFeatures; c++)
      codes[r * inFeatures + c] =
        absmax === 0 ? 0 : Math.round((values[r * inFeatures + c]! / absmax) * levels);
  }
  return { codes, scales };
}

export const int8TestQuantizer: Quantizer = {
  specificationVersion: 'v1',
  name: 'int8-test',
  packageName: '@peft/models (tests)',
  description: 'per-row int8 codes (test only)',
  options: OPTIONS,
  resolveOptions: (input) => resolveOptionValues(OPTIONS, input, 'quantizer "int8-test"'),
  storageBytes: (out, inFeatures) => ({
    disk: out * inFeatures + out * 4,
    memory: out * inFeatures + out * 4,
  }),
  quantize(layer, options) {
    const w = layer.dequantize();
    try {
      const { codes, scales } = int8Codes(
        w.dataSync() as Float32Array,
        layer.outFeatures,
        layer.inFeatures,
        options['levels'] as number,
      );
      const bias = layer.bias ? (layer.bias.dataSync() as Float32Array) : null;
      return new Int8TestLinear(layer.outFeatures, layer.inFeatures, codes, scales, bias);
    } finally {
      w.dispose();
    }
  },
  quantizationConfig: (options, context = {}) => ({
    quant_method: 'int8-test',
    levels: options['levels'],
    threshold: 6,
    modules_to_not_convert: context.skippedModules ?? null,
    dtype: context.modelDtype ?? null,
  }),
  quantizationConfigFloatFields: ['threshold'],
};

export const int8TestFormat: LinearFormat = {
  specificationVersion: 'v1',
  name: 'int8-test',
  detect: (source, prefix) => source.has(`${prefix}weight.int8_scale`),
  async read(source, prefix) {
    const weight = await source.get(`${prefix}weight`);
    const scales = toFloat32(await source.get(`${prefix}weight.int8_scale`));
    const [out, inFeatures] = weight.shape as [number, number];
    const codes = new Int8Array(weight.data.buffer, weight.data.byteOffset, weight.data.byteLength);
    const bias = source.has(`${prefix}bias`) ? toFloat32(await source.get(`${prefix}bias`)) : null;
    return new Int8TestLinear(out, inFeatures, codes, scales, bias);
  },
};

/** Registers both for a test file; returns the undo. */
export function registerInt8Test(): () => void {
  registerQuantizer(int8TestQuantizer);
  registerLinearFormat(int8TestFormat);
  return () => {
    unregisterQuantizer(int8TestQuantizer.name);
    unregisterLinearFormat(int8TestFormat.name);
  };
}
