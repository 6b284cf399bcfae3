// `quantizeFolder`: a .safetensors file or a Hugging Face model folder, quantized by any registered
// quantizer (by name: this package knows none of them), written as the quantizer's format stores it.
import {
  ConfigError,
  DenseLinear,
  getQuantizer,
  type HostTensor,
  isFloatDType,
  type StateDict,
  toFloat32,
} from '@peft/core';
import * as tf from '@tensorflow/tfjs-core';
import { LosslessNumber } from 'lossless-json';
import { openCheckpointInput, tensorCount } from './checkpoint-input.js';
import { type LosslessConfig, writeCheckpointOutput } from './checkpoint-output.js';
import { requireTensorflowBackend } from './tensorflow-ready.js';
import { declaredDType, type TorchFloatDType, torchDType } from './torch-dtype.js';

export interface QuantizeFolderOptions {
  /** A registered quantizer's name, e.g. "nf4" or "fp4" (import the package that provides it first). */
  quantize: string;
  /** The quantizer's options, e.g. `{ blocksize: 64, doubleQuant: true }`; unset ones take its defaults. */
  quantizeOptions?: Readonly<Record<string, unknown>>;
  /** Quantize only 2-D weights whose tensor name matches (replaces the default embedding / lm_head exclusion). */
  include?: RegExp | string;
  /** Never quantize weights whose tensor name matches. */
  exclude?: RegExp | string;
  /** Replace an existing output folder even if it holds files that are not part of a model folder. */
  overwrite?: boolean;
  /** Called after each tensor is read, with how many of all the input's tensors are done. */
  onProgress?: (done: number, total: number) => void;
}

export interface QuantizeFolderReport {
  /** Paths written: the output file, or every file of the output folder. */
  readonly written: string[];
  /** Names of the weights quantized (`*.weight`). */
  readonly quantized: string[];
  /** Names of the tensors copied unchanged. */
  readonly copied: string[];
  /** The quantizer's name. */
  readonly quantize: string;
  /** The quantizer's options as applied (defaults filled in). */
  readonly quantizeOptions: Readonly<Record<string, unknown>>;
}

/**
 * Embeddings and the output head stay in full precision, as transformers does (`lm_head` is skipped by
 * default; embeddings are not `nn.Linear`).
 */
const DEFAULT_EXCLUDED = /(^|\.)(lm_head|embed_out|wte|wpe|shared)\.weight$|embed/;

function regex(value: RegExp | string | undefined, option: string): RegExp | undefined {
  if (value === undefined || value instanceof RegExp) return value;
  try {
    return new RegExp(value);
  } catch (cause) {
    throw new ConfigError(
      `${option} ${JSON.stringify(value)} is not a valid regular expression (${(cause as Error).message})`,
    );
  }
}

/**
 * Quantizes every eligible weight of a .safetensors file or a model folder at `input` with the
 * registered quantizer `options.quantize` and writes the result to `output` (a file for a file, a
 * folder for a folder). Eligible: 2-D F32/F16/BF16 `*.weight` tensors but embeddings and the output head
 * (or those `include` matches), minus those `exclude` matches; everything else is copied byte for byte.
 * A folder keeps its shard layout and tokenizer files, and its config.json gains the quantizer's
 * `quantization_config`. One layer is held at a time. Needs a TensorFlow.js backend (the quantizer
 * works on layers). The output is written atomically (see `writeCheckpointOutput`).
 */
export async function quantizeFolder(
  input: string,
  output: string,
  options: QuantizeFolderOptions,
): Promise<QuantizeFolderReport> {
  // Every option is checked before anything is opened.
  const quantizer = getQuantizer(options.quantize);
  const resolved = quantizer.resolveOptions(options.quantizeOptions ?? {});
  const include = regex(options.include, 'include');
  const exclude = regex(options.exclude, 'exclude');
  await requireTensorflowBackend('quantizeFolder');

  const checkpoint = await openCheckpointInput(input);
  try {
    const quantized: string[] = [];
    const copied: string[] = [];
    const skippedLinear: string[] = [];
    const dtypes = new Map<TorchFloatDType, number>();
    const isCandidate = (key: string) => {
      const info = checkpoint.source.info(key);
      return (
        key.endsWith('.weight') && info.shape.length === 2 && isFloatDType(info.dtype) && info.dtype !== 'F64'
      );
    };
    const shouldQuantize = (key: string) => {
      if (!isCandidate(key)) return false;
      const chosen = include ? include.test(key) : !DEFAULT_EXCLUDED.test(key);
      const take = chosen && !exclude?.test(key);
      if (!take) skippedLinear.push(key.slice(0, -'.weight'.length));
      return take;
    };
    const total = tensorCount(checkpoint);
    let done = 0;

    const quantizeWeight = (key: string, weight: HostTensor): StateDict => {
      const layerPath = key.slice(0, -'.weight'.length);
      const dense = denseLayer(weight);
      try {
        const layer = quantizer.quantize(dense, resolved, `${checkpoint.path}: ${layerPath}`);
        try {
          return layer.stateDict(`${layerPath}.`);
        } finally {
          layer.dispose();
        }
      } finally {
        dense.dispose();
      }
    };

    const written = await writeCheckpointOutput(
      checkpoint,
      output,
      async (shard) => {
        const dict: StateDict = new Map();
        for (const key of shard.keys) {
          const tensor = await checkpoint.source.get(key);
          if (shouldQuantize(key)) {
            for (const [k, v] of quantizeWeight(key, tensor)) dict.set(k, v);
            const dtype = torchDType(tensor.dtype);
            if (dtype) dtypes.set(dtype, (dtypes.get(dtype) ?? 0) + 1);
            quantized.push(key);
          } else {
            dict.set(key, tensor);
            copied.push(key);
          }
          options.onProgress?.(++done, total);
        }
        return dict;
      },
      {
        overwrite: options.overwrite ?? false,
        transformConfig: (config) => {
          const qc = quantizer.quantizationConfig(resolved, {
            modelDtype: declaredDType(config) ?? mostCommon(dtypes) ?? 'float32',
            skippedModules: skippedLinear.some((m) => !DEFAULT_EXCLUDED.test(`${m}.weight`))
              ? skippedLinear
              : null,
          });
          return {
            ...config,
            quantization_config: withPythonFloats(qc, quantizer.quantizationConfigFloatFields),
          };
        },
      },
    );
    return { written, quantized, copied, quantize: quantizer.name, quantizeOptions: resolved };
  } finally {
    await checkpoint.close();
  }
}

/**
 * The weight as a dense layer without bias (the bias is copied as stored), keeping its stored dtype, so
 * a quantizer that records it (bitsandbytes writes `float16` into the quant state) sees it.
 */
function denseLayer(weight: HostTensor): DenseLinear {
  const [out, inFeatures] = weight.shape as [number, number];
  const w = tf.tensor2d(toFloat32(weight), [out, inFeatures]);
  try {
    return new DenseLinear(w, null, { storageDType: weight.dtype });
  } finally {
    w.dispose();
  }
}

function mostCommon(counts: ReadonlyMap<TorchFloatDType, number>): TorchFloatDType | null {
  let best: TorchFloatDType | null = null;
  let count = 0;
  for (const [dtype, n] of counts) if (n > count) [best, count] = [dtype, n];
  return best;
}

/**
 * The fields Python requires to be floats spelled with a decimal point (`6.0`, not JavaScript's `6`):
 * transformers rejects an int there.
 */
function withPythonFloats(qc: Record<string, unknown>, floatFields: readonly string[] = []): LosslessConfig {
  const out: LosslessConfig = { ...qc };
  for (const field of floatFields) {
    const value = out[field];
    if (typeof value === 'number' && Number.isFinite(value))
      out[field] = new LosslessNumber(pythonFloatLiteral(value));
  }
  return out;
}

/** A JSON number Python's json module reads as a float: an integral value gets `.0`. */
export function pythonFloatLiteral(value: number): string {
  const text = String(value);
  return /[.eE]/.test(text) ? text : `${text}.0`;
}
