// `dequantizeFolder`: every linear layer stored in a registered quantized format (bitsandbytes 4-bit,
// or a plug-in's) turned back into a plain float weight through the layer's own `dequantize()`.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  ConfigError,
  detectLinearFormat,
  fromFloat32,
  type HostTensor,
  type LinearFormat,
  type QuantizedLinear,
  type StateDict,
  type TensorSource,
  toFloat32,
} from '@peft/core';
import {
  type CheckpointInput,
  type InputShard,
  openCheckpointInput,
  tensorCount,
} from './checkpoint-input.js';
import { writeCheckpointOutput } from './checkpoint-output.js';
import { requireTensorflowBackend } from './tensorflow-ready.js';
import {
  declaredDType,
  isTorchFloatDType,
  safetensorsDType,
  TORCH_FLOAT_DTYPES,
  type TorchFloatDType,
} from './torch-dtype.js';

export interface DequantizeFolderOptions {
  /** dtype of the restored weights; default: the dtype each layer records, else config.json's, else float32. */
  dtype?: TorchFloatDType;
  /** Replace an existing output folder even if it holds files that are not part of a model folder. */
  overwrite?: boolean;
  /** Called after each input tensor is handled, with how many of all the input's tensors are done. */
  onProgress?: (done: number, total: number) => void;
}

export interface DequantizeFolderReport {
  /** Paths written: the output file, or every file of the output folder. */
  readonly written: string[];
  /** Names of the weights restored (`<layer>.weight`). */
  readonly dequantized: string[];
}

/** A quantized layer of the input: where its tensors are and which format reads them. */
interface StoredLayer {
  readonly prefix: string;
  readonly format: LinearFormat;
  /** The input shard the restored weight goes to: the one that holds `<prefix>weight`, else its first tensor. */
  readonly shard: string;
  /** The first of its tensors in that shard: the restored weight takes its place in the file's order. */
  readonly firstKey: string;
}

/**
 * Restores plain float weights for every layer of the file or model folder at `input` that a registered
 * linear format claims (import the quantizer package first, e.g. `@peft/quant-bnb4`), and writes the
 * result to `output`: each such layer's tensors (the packed weight and its statistics) become one
 * `<layer>.weight` in `options.dtype` (default: the dtype the layer records, as bitsandbytes' quant state
 * does), its bias is kept as stored, every other tensor is copied byte for byte and config.json loses
 * `quantization_config`. Needs a TensorFlow.js backend. The output is written atomically.
 */
export async function dequantizeFolder(
  input: string,
  output: string,
  options: DequantizeFolderOptions = {},
): Promise<DequantizeFolderReport> {
  if (options.dtype !== undefined && !isTorchFloatDType(options.dtype)) {
    throw new ConfigError(
      `dtype ${JSON.stringify(options.dtype)} is not one of ${TORCH_FLOAT_DTYPES.join(', ')}`,
    );
  }
  await requireTensorflowBackend('dequantizeFolder');
  const checkpoint = await openCheckpointInput(input);
  try {
    const layers = storedLayers(checkpoint);
    const owner = layerOwner(layers);
    const fallback = (await configDType(checkpoint)) ?? 'float32';
    const dequantized: string[] = [];
    const total = tensorCount(checkpoint);
    let done = 0;

    const transformShard = async (shard: InputShard): Promise<StateDict> => {
      const dict: StateDict = new Map();
      for (const key of shard.keys) {
        const layer = owner(key);
        if (layer === undefined || key === `${layer.prefix}bias`) {
          dict.set(key, await checkpoint.source.get(key));
        } else if (key === layer.firstKey && shard.file === layer.shard) {
          const { weight, bias } = await restore(checkpoint.source, layer, options.dtype, fallback);
          dict.set(`${layer.prefix}weight`, weight);
          // A bias stored as `<prefix>bias` is copied where it is; one the format keeps elsewhere comes from the layer.
          if (bias && !checkpoint.source.has(`${layer.prefix}bias`)) dict.set(`${layer.prefix}bias`, bias);
          dequantized.push(`${layer.prefix}weight`);
        }
        options.onProgress?.(++done, total);
      }
      return dict;
    };
    const written = await writeCheckpointOutput(checkpoint, output, transformShard, {
      overwrite: options.overwrite ?? false,
      transformConfig: ({ quantization_config: _dropped, ...rest }) => rest,
    });
    return { written, dequantized };
  } finally {
    await checkpoint.close();
  }
}

/**
 * The layers a registered format claims. Candidates are the dotted prefixes of every tensor name; the
 * outermost claimed prefix wins, and every tensor under it but the bias belongs to its stored weight.
 */
function storedLayers(input: CheckpointInput): StoredLayer[] {
  const prefixes = new Set<string>();
  for (const key of input.source.keys()) {
    for (let at = key.indexOf('.'); at >= 0; at = key.indexOf('.', at + 1))
      prefixes.add(key.slice(0, at + 1));
  }
  const claimed: { prefix: string; format: LinearFormat }[] = [];
  for (const prefix of [...prefixes].sort((a, b) => a.length - b.length)) {
    if (claimed.some((c) => prefix.startsWith(c.prefix))) continue;
    const format = detectLinearFormat(input.source, prefix);
    if (format) claimed.push({ prefix, format });
  }
  return claimed.map(({ prefix, format }) => {
    const owned = (key: string) => key.startsWith(prefix) && key !== `${prefix}bias`;
    const home =
      input.shards.find((s) => s.keys.includes(`${prefix}weight`)) ??
      input.shards.find((s) => s.keys.some(owned))!;
    return { prefix, format, shard: home.file, firstKey: home.keys.find(owned)! };
  });
}

/** The stored layer a tensor belongs to, if any. */
function layerOwner(layers: readonly StoredLayer[]): (key: string) => StoredLayer | undefined {
  const byPrefix = new Map(layers.map((l) => [l.prefix, l]));
  return (key) => {
    for (let at = key.indexOf('.'); at >= 0; at = key.indexOf('.', at + 1)) {
      const layer = byPrefix.get(key.slice(0, at + 1));
      if (layer) return layer;
    }
    return undefined;
  };
}

/**
 * The layer read through its format, its weight (and bias) as plain float tensors: in the dtype the
 * layer records (else `fallback`), converted to `dtype` when given.
 */
async function restore(
  source: TensorSource,
  stored: StoredLayer,
  dtype: TorchFloatDType | undefined,
  fallback: TorchFloatDType,
): Promise<{ weight: HostTensor; bias: HostTensor | null }> {
  const layer = await stored.format.read(source, stored.prefix);
  try {
    // Python's dequantization returns the weight in the dtype the layer records; `dtype` converts that.
    const recorded = recordedDType(layer);
    const target = safetensorsDType(dtype ?? recorded ?? fallback);
    const w = layer.dequantize();
    let weight: HostTensor;
    try {
      weight = fromFloat32(w.dataSync() as Float32Array, w.shape, safetensorsDType(recorded ?? fallback));
    } finally {
      w.dispose();
    }
    if (weight.dtype !== target) weight = fromFloat32(toFloat32(weight), weight.shape, target);
    const bias = layer.bias
      ? fromFloat32(layer.bias.dataSync() as Float32Array, layer.bias.shape, target)
      : null;
    return { weight, bias };
  } finally {
    layer.dispose();
  }
}

/**
 * The float dtype a quantized layer records for its weight, where its format keeps one (bitsandbytes'
 * quant state has `dtype`, exposed as `Bnb4Linear.dtype`): what Python's dequantization returns.
 */
function recordedDType(layer: QuantizedLinear): TorchFloatDType | null {
  const recorded = (layer as { readonly dtype?: unknown }).dtype;
  return isTorchFloatDType(recorded) ? recorded : null;
}

/** config.json's torch_dtype, for a folder input (an unreadable config.json is reported when it is rewritten). */
async function configDType(input: CheckpointInput): Promise<TorchFloatDType | null> {
  if (input.kind !== 'folder') return null;
  try {
    return declaredDType(JSON.parse(await readFile(join(input.path, 'config.json'), 'utf8')));
  } catch {
    return null;
  }
}
