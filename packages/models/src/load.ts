import {
  ConfigError,
  DenseLinear,
  detectLinearFormat,
  type HostTensor,
  isFloatDType,
  Linear,
  loadLinear,
  ModuleList,
  type QuantizedLinear,
  registeredLinearFormats,
  ShapeMismatchError,
  type TensorSource,
  toFloat32,
} from '@peft/core';
import * as tf from '@tensorflow/tfjs-core';
import type { LlamaConfig } from './config.js';
import { CheckpointError } from './errors.js';
import { assertFiniteWeight } from './finite-weights.js';
import { Attention } from './layers/attention.js';
import { DecoderLayer } from './layers/decoder-layer.js';
import { Embedding } from './layers/embedding.js';
import { Mlp } from './layers/mlp.js';
import { RMSNorm } from './layers/rms-norm.js';
import { TiedHeadLinear } from './layers/tied-head.js';

const OUTPUT_HEAD = 'lm_head';

import { checkpointLayout, isIgnoredTensor, type LinearSpec, layerPrefix } from './layout.js';
import { LlamaForCausalLM, LlamaModel } from './model.js';

/** What `LoadOptions.quantizeLinear` is told about the layer whose weight it gets. */
export interface QuantizeLinearContext {
  /** Module path, e.g. "model.layers.0.self_attn.q_proj" or "lm_head". */
  readonly path: string;
  /** The layer's bias as stored, or null. */
  readonly bias: HostTensor | null;
}

/**
 * Turns one dense projection weight [out, in], as read from the checkpoint (F32, F16 or BF16 on the
 * host), into the layer to use instead, e.g. a 4-bit one; `null` keeps the layer dense.
 */
export type QuantizeLinear = (weight: HostTensor, context: QuantizeLinearContext) => QuantizedLinear | null;

export interface LoadOptions {
  /** Reject tensors the model does not use (default true); `false` skips them. */
  strict?: boolean;
  /**
   * Quantize on load: called for every projection stored as plain float weights (layers a registered
   * format already reads, such as a `*-bnb-4bit` checkpoint's, are not passed), one at a time, right
   * after its weight is read. A layer it returns is used as is: no dense tf tensor of that weight is
   * ever made, and the host copy is dropped before the next layer is read, so a model larger than
   * memory in float32 loads in its quantized size. The caller brings the quantizer (this package
   * imports none), e.g. with @peft/quant-bnb4:
   * `(w, { path, bias }) => path === 'lm_head' ? null : Bnb4Linear.quantize(w, { bias, name: path })`.
   */
  quantizeLinear?: QuantizeLinear;
}

/**
 * Builds a model from a config and its tensors. Every projection goes through core's linear-format
 * registry, so a bitsandbytes 4-bit checkpoint loads as the quantizer's layer when its package has
 * been imported (and nothing is dequantized); plain float weights load as `DenseLinear`.
 * Tensors are read one at a time, so a lazy source never has the whole checkpoint in memory.
 */
export async function loadLlama(
  source: TensorSource,
  config: LlamaConfig,
  options: LoadOptions = {},
): Promise<LlamaForCausalLM> {
  const layout = checkpointLayout(config);
  checkKeys(
    source,
    config,
    layout.linears,
    layout.tensors.map((t) => t.name),
    options.strict ?? true,
  );
  checkStoredShapes(source, layout.linears, layout.tensors);

  const owned: { dispose(): void }[] = [];
  try {
    const linears = new Map<string, Linear>();
    for (const spec of layout.linears) {
      const linear = new Linear(await readLinear(source, spec, options.quantizeLinear));
      owned.push(linear);
      linears.set(spec.path, linear);
    }
    const floats = new Map<string, tf.Tensor>();
    for (const spec of layout.tensors) {
      const tensor = await readFloatTensor(source, spec.name, spec.shape);
      owned.push(tensor);
      floats.set(spec.name, tensor);
    }
    const model = assemble(config, linears, floats);
    for (const t of floats.values()) t.dispose();
    return model;
  } catch (error) {
    for (const item of owned) item.dispose();
    throw error;
  }
}

function assemble(
  config: LlamaConfig,
  linears: Map<string, Linear>,
  floats: Map<string, tf.Tensor>,
): LlamaForCausalLM {
  const get = <T>(map: Map<string, T>, key: string): T => map.get(key)!;
  const norm = (name: string) => new RMSNorm(get(floats, name) as tf.Tensor1D, config.rmsNormEps);
  const shape = {
    numHeads: config.numAttentionHeads,
    numKeyValueHeads: config.numKeyValueHeads,
    headDim: config.headDim,
  };
  const layers = new ModuleList<DecoderLayer>();
  for (let i = 0; i < config.numHiddenLayers; i++) {
    const p = layerPrefix(i);
    const attention = new Attention(
      {
        q: get(linears, `${p}.self_attn.q_proj`),
        k: get(linears, `${p}.self_attn.k_proj`),
        v: get(linears, `${p}.self_attn.v_proj`),
        o: get(linears, `${p}.self_attn.o_proj`),
      },
      shape,
      config.slidingWindows[i] ?? null,
    );
    const mlp = new Mlp({
      gate: get(linears, `${p}.mlp.gate_proj`),
      up: get(linears, `${p}.mlp.up_proj`),
      down: get(linears, `${p}.mlp.down_proj`),
    });
    layers.append(
      new DecoderLayer({
        inputNorm: norm(`${p}.input_layernorm.weight`),
        attention,
        postAttentionNorm: norm(`${p}.post_attention_layernorm.weight`),
        mlp,
      }),
    );
  }
  const embedding = new Embedding(get(floats, 'model.embed_tokens.weight') as tf.Tensor2D);
  const model = new LlamaModel({
    embedTokens: embedding,
    layers,
    norm: norm('model.norm.weight'),
  });
  if (config.tieWordEmbeddings) {
    // The head reads the embedding table itself (see TiedHeadLinear: no copy of it, packed or transposed).
    const head = new TiedHeadLinear(embedding.weight);
    return new LlamaForCausalLM(config, { model, lmHead: new Linear(head), tiedHead: head });
  }
  return new LlamaForCausalLM(config, { model, lmHead: get(linears, 'lm_head') });
}

async function readLinear(
  source: TensorSource,
  spec: LinearSpec,
  quantize: QuantizeLinear | undefined,
): Promise<QuantizedLinear> {
  const prefix = `${spec.path}.`;
  const format = detectLinearFormat(source, prefix);
  let layer: QuantizedLinear;
  if (!format) {
    const key = `${prefix}weight`;
    const info = source.info(key);
    // Float weights load dense even in a bitsandbytes checkpoint, which keeps lm_head (and any
    // llm_int8_skip_modules) unquantized; only a non-float weight no format claims is an error.
    if (!isFloatDType(info.dtype)) {
      throw new ConfigError(
        `${source.name}: "${key}" is ${info.dtype}${JSON.stringify(info.shape)}, a quantized weight no registered linear format ` +
          `(${registeredLinearFormats().join(', ') || 'none'}) reads; for bitsandbytes 4-bit checkpoints import "@peft/quant-bnb4" before loading`,
      );
    }
  }
  if (!format) layer = await readFloatLinear(source, spec, quantize);
  else layer = await loadLinear(source, prefix);
  if (layer.outFeatures !== spec.outFeatures || layer.inFeatures !== spec.inFeatures) {
    layer.dispose();
    throw new ShapeMismatchError(
      `${source.name}: "${spec.path}" is [${layer.outFeatures}, ${layer.inFeatures}] but the config needs [${spec.outFeatures}, ${spec.inFeatures}]`,
    );
  }
  if ((layer.bias !== null) !== spec.bias) {
    layer.dispose();
    throw new CheckpointError(
      source.name,
      `${prefix}bias`,
      spec.bias
        ? 'is missing but the config calls for a bias'
        : 'is present but the config has no bias on this layer',
    );
  }
  return layer;
}

/**
 * Reads one float weight (and bias) on the host, refuses NaN and ±Inf in them, and hands them to the
 * caller's quantizer if there is one; dense if there is none or it declines.
 */
async function readFloatLinear(
  source: TensorSource,
  spec: LinearSpec,
  quantize: QuantizeLinear | undefined,
): Promise<QuantizedLinear> {
  const key = `${spec.path}.weight`;
  const weight = await source.get(key);
  if (
    weight.shape.length !== 2 ||
    weight.shape[0] !== spec.outFeatures ||
    weight.shape[1] !== spec.inFeatures
  ) {
    throw new ShapeMismatchError(
      `${source.name}: "${key}" has shape ${JSON.stringify(weight.shape)}, the config needs [${spec.outFeatures}, ${spec.inFeatures}]`,
    );
  }
  assertFiniteWeight(weight, weightsFile(source), key);
  const biasKey = `${spec.path}.bias`;
  const bias = source.has(biasKey) ? await source.get(biasKey) : null;
  if (bias) {
    if (bias.shape.length !== 1 || bias.shape[0] !== spec.outFeatures || !isFloatDType(bias.dtype)) {
      throw new ShapeMismatchError(
        `${source.name}: "${biasKey}" is ${bias.dtype}${JSON.stringify(bias.shape)}, expected a float [${spec.outFeatures}]`,
      );
    }
    assertFiniteWeight(bias, weightsFile(source), biasKey);
  }
  const quantized = quantize?.(weight, { path: spec.path, bias }) ?? null;
  if (quantized) return quantized;
  const w = tf.tensor2d(toFloat32(weight), [spec.outFeatures, spec.inFeatures]);
  // An untied output head keeps its [vocab, hidden] weight as read, once (TiedHeadLinear says why).
  if (spec.path === OUTPUT_HEAD && !bias)
    return new TiedHeadLinear(w, { owned: true, storageDType: weight.dtype });
  const b = bias ? tf.tensor1d(toFloat32(bias)) : null;
  try {
    return new DenseLinear(w, b, { storageDType: weight.dtype });
  } finally {
    tf.dispose(b ? [w, b] : [w]);
  }
}

async function readFloatTensor(
  source: TensorSource,
  name: string,
  shape: readonly number[],
): Promise<tf.Tensor> {
  const host = await source.get(name);
  if (!isFloatDType(host.dtype)) {
    throw new CheckpointError(source.name, name, `is ${host.dtype}; expected a floating-point tensor`);
  }
  if (host.shape.length !== shape.length || host.shape.some((d, i) => d !== shape[i])) {
    throw new ShapeMismatchError(
      `${source.name}: "${name}" has shape ${JSON.stringify(host.shape)}, the config needs ${JSON.stringify(shape)}`,
    );
  }
  assertFiniteWeight(host, weightsFile(source), name);
  return tf.tensor(toFloat32(host), [...shape], 'float32');
}

/**
 * The file to name for a tensor: a checkpoint folder's single safetensors file when it has one, else the
 * source's name (a sharded folder: its index maps the tensor to the shard).
 */
function weightsFile(source: TensorSource): string {
  const files = (source as { files?: unknown }).files;
  return Array.isArray(files) && files.length === 1 && typeof files[0] === 'string' ? files[0] : source.name;
}

/**
 * Compares the shapes the file declares with the config before any tensor is read, so a config that does
 * not describe the file (or a file that does not hold what its config says) fails without reading or
 * allocating a byte of weights. Linears a registered format claims store their own layout and are checked
 * by the format when read.
 */
function checkStoredShapes(
  source: TensorSource,
  linears: readonly LinearSpec[],
  tensors: readonly { name: string; shape: readonly number[] }[],
): void {
  const expectations: [string, readonly number[]][] = tensors.map((t) => [t.name, t.shape]);
  for (const spec of linears) {
    if (detectLinearFormat(source, `${spec.path}.`)) continue;
    if (!isFloatDType(source.info(`${spec.path}.weight`).dtype)) continue;
    expectations.push([`${spec.path}.weight`, [spec.outFeatures, spec.inFeatures]]);
  }
  for (const [name, shape] of expectations) {
    const stored = source.info(name).shape;
    if (stored.length !== shape.length || stored.some((d, i) => d !== shape[i])) {
      throw new ShapeMismatchError(
        `${source.name}: "${name}" has shape ${JSON.stringify(stored)}, the config needs ${JSON.stringify(shape)}; is config.json the checkpoint's own?`,
      );
    }
  }
}

function checkKeys(
  source: TensorSource,
  config: LlamaConfig,
  linears: readonly LinearSpec[],
  tensorNames: string[],
  strict: boolean,
): void {
  const missing: string[] = [];
  for (const name of tensorNames) if (!source.has(name)) missing.push(name);
  for (const spec of linears) {
    // A quantized layer keeps its `weight` key too (packed), so `weight` is the presence test for any format.
    if (!source.has(`${spec.path}.weight`)) missing.push(`${spec.path}.weight`);
  }
  if (missing.length > 0) {
    throw new CheckpointError(
      source.name,
      missing[0]!,
      `is missing${missing.length > 1 ? ` (and ${missing.length - 1} more: ${missing.slice(1, 6).join(', ')}${missing.length > 6 ? ', ...' : ''})` : ''}; ` +
        `is this checkpoint for this config (${config.modelType}, ${config.numHiddenLayers} layers${config.tieWordEmbeddings ? ', tied embeddings' : ''})?`,
    );
  }
  if (!strict) return;
  const known = new Set(tensorNames);
  const linearPrefixes = linears.map((l) => `${l.path}.`);
  for (const key of source.keys()) {
    if (known.has(key) || isIgnoredTensor(key, config)) continue;
    if (linearPrefixes.some((p) => key.startsWith(p))) continue;
    throw new CheckpointError(
      source.name,
      key,
      'is not part of this model; pass { strict: false } to skip unknown tensors',
    );
  }
}
