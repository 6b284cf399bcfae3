// Node-only: writes a Hugging Face model folder of random weights, streaming tensor by tensor.
import { mkdir, readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError, floatToBf16Bits, TorchGenerator } from '@peft/core';
import { writeFileAtomic } from '@peft/core/node';
import { type LlamaConfig, type LlamaConfigInput, llamaConfig, parseLlamaConfig } from './config.js';
import { checkpointLayout } from './layout.js';
import { modelPreset } from './presets.js';
import { randomTokenizerJson } from './random-tokenizer.js';

/** Hugging Face's default `max_shard_size` ("5GB", decimal). */
export const DEFAULT_MAX_SHARD_BYTES = 5_000_000_000;

export interface WriteRandomModelOptions {
  /** Seed of the one generator all weights are drawn from, in file order (default 0). */
  seed?: number | bigint;
  /** Weight dtype on disk (default "bfloat16", as the presets' checkpoints ship). */
  dtype?: 'bfloat16' | 'float32';
  /** Above this many bytes of weights, shards with `model.safetensors.index.json` (default 5 GB). */
  maxShardBytes?: number;
  /** Also write `tokenizer.json` (default true); see `randomTokenizerJson`. */
  tokenizer?: boolean;
  /** Called after each tensor is written, e.g. for progress. */
  onTensor?: (name: string, index: number, total: number) => void;
}

export interface WrittenModel {
  readonly config: LlamaConfig;
  /** Weight files written, in order. */
  readonly files: readonly string[];
  readonly parameters: number;
  /** Bytes of tensor data (the index's `total_size`). */
  readonly weightBytes: number;
}

interface TensorPlan {
  readonly name: string;
  readonly shape: readonly number[];
  readonly init: 'normal' | 'ones' | 'zeros';
  readonly bytes: number;
}

// Values are drawn and converted this many at a time, so memory stays a few MB whatever the tensor's size.
const DRAW_BLOCK = 1 << 18;

/**
 * Writes a folder transformers and `loadPretrainedFolder` load: `config.json`, `generation_config.json`,
 * `tokenizer.json` and the weights as `model.safetensors`, or as `model-0000i-of-0000n.safetensors`
 * shards with `model.safetensors.index.json` when they exceed `maxShardBytes`. `config` is a preset
 * name (`MODEL_PRESETS`), a `config.json` object or a parsed config. Weights are initialised as
 * transformers does (projections and embeddings ~ N(0, initializer_range²), norms 1, biases 0) and
 * streamed to disk a block at a time: a 1B-parameter model is written in a few MB of memory. Every
 * file is written beside its target and renamed into place; weights come before `config.json`, and
 * a weight file of the other layout (single or sharded) left by an earlier write is removed.
 */
export async function writeRandomModel(
  dir: string,
  config: string | LlamaConfig | LlamaConfigInput | Readonly<Record<string, unknown>>,
  options: WriteRandomModelOptions = {},
): Promise<WrittenModel> {
  const dtype = options.dtype ?? 'bfloat16';
  if (dtype !== 'bfloat16' && dtype !== 'float32') {
    throw new ConfigError(
      `writeRandomModel: dtype must be "bfloat16" or "float32", got ${JSON.stringify(dtype)}`,
    );
  }
  const maxShardBytes = options.maxShardBytes ?? DEFAULT_MAX_SHARD_BYTES;
  if (!Number.isSafeInteger(maxShardBytes) || maxShardBytes <= 0) {
    throw new ConfigError(`writeRandomModel: maxShardBytes must be a positive integer, got ${maxShardBytes}`);
  }
  const parsed = resolveConfig(config);
  const itemBytes = dtype === 'bfloat16' ? 2 : 4;
  const plan = tensorPlan(parsed, itemBytes);
  const shards = planShards(plan, maxShardBytes);
  const names =
    shards.length === 1
      ? ['model.safetensors']
      : shards.map((_, i) => `model-${pad5(i + 1)}-of-${pad5(shards.length)}.safetensors`);

  await mkdir(dir, { recursive: true });
  const generator = new TorchGenerator(options.seed ?? 0);
  const std = parsed.initializerRange;
  let written = 0;
  for (const [i, shard] of shards.entries()) {
    await writeFileAtomic(
      join(dir, names[i]!),
      shardChunks(shard, dtype, generator, std, (name) => options.onTensor?.(name, written++, plan.length)),
    );
  }
  const weightBytes = plan.reduce((sum, t) => sum + t.bytes, 0);
  if (shards.length > 1) {
    const weightMap: Record<string, string> = {};
    const entries = shards.flatMap((shard, i) => shard.map((t) => [t.name, names[i]!] as const));
    for (const [name, file] of entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      weightMap[name] = file;
    await writeJson(join(dir, 'model.safetensors.index.json'), {
      metadata: { total_size: weightBytes },
      weight_map: weightMap,
    });
  }
  await removeStaleWeights(dir, names, shards.length > 1);
  if (options.tokenizer ?? true) {
    await writeJson(join(dir, 'tokenizer.json'), randomTokenizerJson(parsed.vocabSize));
  }
  const { bos_token_id, eos_token_id } = parsed.raw;
  await writeJson(join(dir, 'generation_config.json'), {
    ...(bos_token_id === undefined ? {} : { bos_token_id }),
    ...(eos_token_id === undefined ? {} : { eos_token_id }),
  });
  await writeJson(join(dir, 'config.json'), {
    ...parsed.raw,
    torch_dtype: dtype,
  });
  return { config: parsed, files: names, parameters: weightBytes / itemBytes, weightBytes };
}

function resolveConfig(
  config: string | LlamaConfig | LlamaConfigInput | Readonly<Record<string, unknown>>,
): LlamaConfig {
  if (typeof config === 'string') return parseLlamaConfig(modelPreset(config), `preset ${config}`);
  if ('raw' in config && 'modelType' in config) return config as LlamaConfig;
  return llamaConfig(config as LlamaConfigInput);
}

/** Every tensor in transformers' file order: embedding, each layer's norms and projections, final norm, head. */
function tensorPlan(config: LlamaConfig, itemBytes: number): TensorPlan[] {
  const layout = checkpointLayout(config);
  const entries: { name: string; shape: readonly number[]; init: TensorPlan['init'] }[] = [];
  for (const t of layout.tensors) {
    entries.push({
      name: t.name,
      shape: t.shape,
      init: t.name.endsWith('embed_tokens.weight') ? 'normal' : 'ones',
    });
  }
  for (const l of layout.linears) {
    entries.push({ name: `${l.path}.weight`, shape: [l.outFeatures, l.inFeatures], init: 'normal' });
    if (l.bias) entries.push({ name: `${l.path}.bias`, shape: [l.outFeatures], init: 'zeros' });
  }
  const rank = (name: string): number => {
    if (name.startsWith('model.embed_tokens.')) return -1;
    const layer = /^model\.layers\.(\d+)\./.exec(name);
    if (layer) return Number(layer[1]);
    return name.startsWith('model.norm.') ? Number.MAX_SAFE_INTEGER - 1 : Number.MAX_SAFE_INTEGER;
  };
  // A stable sort: within a layer, norms first, then projections in layout order.
  return entries
    .map((e, order) => ({ e, order }))
    .sort((a, b) => rank(a.e.name) - rank(b.e.name) || a.order - b.order)
    .map(({ e }) => ({ ...e, bytes: e.shape.reduce((n, d) => n * d, 1) * itemBytes }));
}

/** Hugging Face's greedy split: a new shard when the next tensor would overflow a non-empty one. */
function planShards(plan: readonly TensorPlan[], maxBytes: number): TensorPlan[][] {
  const shards: TensorPlan[][] = [[]];
  let size = 0;
  for (const t of plan) {
    if (size + t.bytes > maxBytes && shards[shards.length - 1]!.length > 0) {
      shards.push([]);
      size = 0;
    }
    shards[shards.length - 1]!.push(t);
    size += t.bytes;
  }
  return shards;
}

/** The safetensors header (length prefix + JSON padded with spaces to 8 bytes) for tensors in this order. */
function header(shard: readonly TensorPlan[], dtype: 'bfloat16' | 'float32'): Uint8Array {
  const code = dtype === 'bfloat16' ? 'BF16' : 'F32';
  const parts = ['"__metadata__":{"format":"pt"}'];
  let offset = 0;
  for (const t of shard) {
    parts.push(
      `${JSON.stringify(t.name)}:{"dtype":"${code}","shape":[${t.shape.join(',')}],"data_offsets":[${offset},${offset + t.bytes}]}`,
    );
    offset += t.bytes;
  }
  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  const length = Math.ceil(json.byteLength / 8) * 8;
  const head = new Uint8Array(8 + length).fill(0x20, 8);
  new DataView(head.buffer).setBigUint64(0, BigInt(length), true);
  head.set(json, 8);
  return head;
}

async function* shardChunks(
  shard: readonly TensorPlan[],
  dtype: 'bfloat16' | 'float32',
  generator: TorchGenerator,
  std: number,
  done: (name: string) => void,
): AsyncGenerator<Uint8Array> {
  yield header(shard, dtype);
  const item = dtype === 'bfloat16' ? 2 : 4;
  // Buffers reused for every block, so writing makes no garbage: the file writer finishes a chunk
  // before it asks for the next one.
  const out = new Uint8Array(DRAW_BLOCK * item);
  const view = new DataView(out.buffer);
  const values = new Float32Array(DRAW_BLOCK);
  for (const t of shard) {
    const total = t.bytes / item;
    for (let start = 0; start < total; start += DRAW_BLOCK) {
      const n = Math.min(DRAW_BLOCK, total - start);
      if (t.init === 'normal') fillNormal(values, n, generator, std);
      else values.fill(t.init === 'ones' ? 1 : 0, 0, n);
      for (let i = 0; i < n; i++) {
        const v = values[i]!;
        if (item === 2) view.setUint16(i * 2, floatToBf16Bits(v), true);
        else view.setFloat32(i * 4, v, true);
      }
      yield out.subarray(0, n * item);
    }
    done(t.name);
  }
}

/**
 * The first `n` entries of `out` ~ N(0, std²): Box–Muller on pairs of 24-bit uniforms from the
 * generator. (@peft/core's `randn` follows torch's stream layout but allocates its result; here
 * the values only need to be normal and reproducible for a seed.)
 */
function fillNormal(out: Float32Array, n: number, generator: TorchGenerator, std: number): void {
  for (let i = 0; i < n; i += 2) {
    const u1 = 1 - (generator.nextUint32() & 0xffffff) * 2 ** -24; // (0, 1]: safe for the log
    const u2 = (generator.nextUint32() & 0xffffff) * 2 ** -24;
    const radius = std * Math.sqrt(-2 * Math.log(u1));
    out[i] = radius * Math.cos(2 * Math.PI * u2);
    if (i + 1 < n) out[i + 1] = radius * Math.sin(2 * Math.PI * u2);
  }
}

/** Weight files of an earlier write that this one does not use (a loader must not find two layouts). */
async function removeStaleWeights(dir: string, keep: readonly string[], sharded: boolean): Promise<void> {
  const stale = (await readdir(dir)).filter(
    (name) =>
      !keep.includes(name) &&
      (/^model-\d{5}-of-\d{5}\.safetensors$/.test(name) ||
        name === 'model.safetensors' ||
        (!sharded && name === 'model.safetensors.index.json')),
  );
  for (const name of stale) await unlink(join(dir, name)).catch(() => undefined);
}

function pad5(n: number): string {
  return String(n).padStart(5, '0');
}

async function writeJson(path: string, value: unknown): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`);
}
