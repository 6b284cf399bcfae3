// NF4 and FP4 as named quantizers ("nf4", "fp4") in core's registry, so applications list and apply
// them without knowing this package: options, storage arithmetic, per-layer quantization and the
// config.json `quantization_config` transformers writes for such a model.
import {
  type OptionSpec,
  type QuantizationConfigContext,
  type Quantizer,
  registerQuantizer,
  resolveOptionValues,
} from '@peft/core';
import * as tf from '@tensorflow/tfjs-core';
import { Bnb4Linear } from './bnb4-linear.js';
import { bnb4QuantizationConfig, QUANTIZATION_CONFIG_FLOAT_FIELDS } from './quantization-config.js';
import { bnb4StorageBytes } from './storage-bytes.js';
import {
  BNB4_BLOCKSIZES,
  BNB4_DTYPES,
  type Bnb4DType,
  type Bnb4QuantType,
  DEFAULT_BLOCKSIZE,
} from './types.js';

/** The options of both bnb4 quantizers. */
export const BNB4_QUANTIZER_OPTIONS: readonly OptionSpec[] = [
  {
    name: 'blocksize',
    type: 'int',
    description: 'elements per absmax block (bitsandbytes blocksize)',
    default: DEFAULT_BLOCKSIZE,
    choices: BNB4_BLOCKSIZES,
  },
  {
    name: 'doubleQuant',
    type: 'boolean',
    description:
      'bnb_4bit_use_double_quant: keep the absmax statistics as 8-bit codes (false: float32), as QLoRA does',
    default: true,
  },
];

function settings(options: Readonly<Record<string, unknown>>): { blocksize: number; doubleQuant: boolean } {
  return {
    blocksize: (options['blocksize'] as number | undefined) ?? DEFAULT_BLOCKSIZE,
    doubleQuant: (options['doubleQuant'] as boolean | undefined) ?? true,
  };
}

function bnb4Quantizer(quantType: Bnb4QuantType, description: string): Quantizer {
  const owner = `quantizer "${quantType}"`;
  return {
    specificationVersion: 'v1',
    name: quantType,
    packageName: '@peft/quant-bnb4',
    description,
    options: BNB4_QUANTIZER_OPTIONS,
    resolveOptions: (input) => resolveOptionValues(BNB4_QUANTIZER_OPTIONS, input, owner),
    storageBytes(outFeatures, inFeatures, options) {
      const { blocksize, doubleQuant } = settings(options);
      return bnb4StorageBytes(outFeatures * inFeatures, blocksize, doubleQuant);
    },
    quantize(layer, options, name = 'layer') {
      const { blocksize, doubleQuant } = settings(options);
      if (layer.scheme === 'dense') {
        // A dense layer's state dict holds the weight and bias in their stored dtype (float16, bfloat16),
        // which bitsandbytes records in the quant state and keeps for the bias, as Python does.
        const stored = layer.stateDict('');
        return Bnb4Linear.quantize(stored.get('weight')!, {
          quantType,
          blocksize,
          doubleQuant,
          bias: stored.get('bias') ?? null,
          name: `${name}.weight`,
        });
      }
      const weight = layer.dequantize();
      try {
        return Bnb4Linear.quantize(weight, {
          quantType,
          blocksize,
          doubleQuant,
          bias: layer.bias,
          name: `${name}.weight`,
        });
      } finally {
        tf.dispose(weight);
      }
    },
    quantizationConfig(options, context: QuantizationConfigContext = {}) {
      const { doubleQuant } = settings(options);
      const dtype = context.modelDtype as Bnb4DType | undefined;
      return bnb4QuantizationConfig({
        quantType,
        doubleQuant,
        computeDtype: dtype && BNB4_DTYPES.includes(dtype) ? dtype : 'float32',
        skipModules: context.skippedModules ? [...context.skippedModules] : null,
      });
    },
    quantizationConfigFloatFields: QUANTIZATION_CONFIG_FLOAT_FIELDS,
  };
}

/** bitsandbytes NF4 (4-bit NormalFloat, QLoRA's data type). */
export const nf4Quantizer: Quantizer = bnb4Quantizer(
  'nf4',
  'bitsandbytes 4-bit NormalFloat (NF4), byte-compatible with Python; the data type QLoRA uses',
);

/** bitsandbytes FP4. */
export const fp4Quantizer: Quantizer = bnb4Quantizer(
  'fp4',
  'bitsandbytes 4-bit float (FP4), byte-compatible with Python',
);

/** Registers "nf4" and "fp4" with core's quantizer registry (idempotent across installed copies). */
export function registerBnb4Quantizers(): void {
  registerQuantizer(nf4Quantizer);
  registerQuantizer(fp4Quantizer);
}
