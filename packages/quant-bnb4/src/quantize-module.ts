import { isLinear, type Module } from '@peft/core';
import { Bnb4Linear } from './bnb4-linear.js';
import type { Bnb4QuantizeOptions } from './quantize.js';

export interface QuantizeModuleOptions extends Omit<Bnb4QuantizeOptions, 'shape'> {
  /** Only linears whose dotted path matches are quantized (default: all). */
  include?: RegExp;
  /** Linears whose dotted path matches stay as they are (default: the output head, `lm_head`, as transformers does). */
  exclude?: RegExp;
}

const OUTPUT_HEAD = /(^|\.)lm_head$/;

/**
 * Quantizes, in place, every `Linear` of a module tree into a `Bnb4Linear` (NF4, blocksize 64, double
 * quantization by default): what loading a model with `load_in_4bit` does in transformers. Returns the
 * dotted paths of the layers it quantized. Each dense weight is freed as soon as its layer is replaced.
 */
export function quantizeModule(root: Module, options: QuantizeModuleOptions = {}): string[] {
  const { include, exclude = OUTPUT_HEAD, ...quantizeOptions } = options;
  const quantized: string[] = [];
  for (const [path, module] of root.namedModules()) {
    // By scheme, not instanceof: a layer from another installed copy of this package counts too.
    if (!isLinear(module) || module.layer.scheme.startsWith('bnb4-')) continue;
    if (include && !include.test(path)) continue;
    if (exclude.test(path)) continue;
    const weight = module.layer.dequantize();
    try {
      module.replaceLayer(
        Bnb4Linear.quantize(weight, { ...quantizeOptions, bias: module.layer.bias, name: `${path}.weight` }),
      );
    } finally {
      weight.dispose();
    }
    quantized.push(path);
  }
  return quantized;
}
