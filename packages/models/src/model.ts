import { type Linear, Module, type ModuleList, type QuantizedLinear } from '@peft/core';
import * as tf from '@tensorflow/tfjs-core';
import { type AttentionMask, planStep } from './attention-mask.js';
import type { RandomStateHooks } from './checkpoint.js';
import { chunkedCausalLmLoss } from './chunked-loss.js';
import { architectureOf, type LlamaConfig } from './config.js';
import { InputError } from './errors.js';
import { KvCache } from './kv-cache.js';
import type { AttentionContext } from './layers/attention.js';
import { checkpointedLayerForward } from './layers/checkpointed-layer.js';
import type { DecoderLayer } from './layers/decoder-layer.js';
import type { Embedding } from './layers/embedding.js';
import type { RMSNorm } from './layers/rms-norm.js';
import { causalLmLoss, IGNORE_INDEX } from './loss.js';
import { rotaryTables } from './rope.js';
import { assertRange, assertSameShape, type HostBatch, type TokenBatch, toHostBatch } from './token-batch.js';

/** The decoder stack, transformers' `LlamaModel` (the `model.` prefix of every tensor name). */
export class LlamaModel extends Module {
  constructor(parts: { embedTokens: Embedding; layers: ModuleList<DecoderLayer>; norm: RMSNorm }) {
    super();
    this.registerModule('embed_tokens', parts.embedTokens);
    this.registerModule('layers', parts.layers);
    this.registerModule('norm', parts.norm);
  }

  get layers(): ModuleList<DecoderLayer> {
    return this.child<ModuleList<DecoderLayer>>('layers');
  }

  /** Activation checkpointing per decoder layer (null = off); see `LlamaForCausalLM.enableGradientCheckpointing`. */
  gradientCheckpointing: GradientCheckpointingOptions | null = null;

  /** ids [B, T] -> final hidden states [B, T, hidden], after the last norm. */
  forward(ids: tf.Tensor2D, context: AttentionContext, cache?: KvCache): tf.Tensor3D {
    const checkpointing = this.gradientCheckpointing;
    return tf.tidy(() => {
      let hidden = this.child<Embedding>('embed_tokens').forward(ids);
      let index = 0;
      for (const layer of this.layers) {
        // A cached call appends to the cache as a side effect, which a recomputation would repeat.
        hidden =
          checkpointing && !cache
            ? checkpointedLayerForward(layer, hidden, context, checkpointing)
            : layer.forward(hidden, context, cache?.layer(index));
        index++;
      }
      return this.child<RMSNorm>('norm').forward(hidden) as tf.Tensor3D;
    });
  }
}

/** How `enableGradientCheckpointing` recomputes layers. */
export interface GradientCheckpointingOptions {
  /**
   * The random stream adapter layers draw from (dropout), replayed for each recomputation so its
   * masks equal the forward pass's. Needed only when a layer draws random numbers in training.
   */
  randomState?: RandomStateHooks;
}

/** Options of `LlamaForCausalLM.loss`. */
export interface CausalLmLossOptions {
  /**
   * Tokens per chunk of the output head and cross-entropy (default: as many as keep a chunk's
   * logits near 64 MB of float32, `lossChunkTokens(vocab)`). The whole [tokens, vocab] logits
   * tensor never exists at once, in the forward or the backward pass.
   */
  chunkTokens?: number;
}

export interface CausalLmInput {
  /** Token ids [B, T]. */
  inputIds: TokenBatch;
  /** 1 for a token, 0 for padding (left or right); all ones when omitted. */
  attentionMask?: TokenBatch;
  /** Explicit position ids; by default each row counts its real tokens (see `planStep`). */
  positionIds?: TokenBatch;
  /** Targets aligned with `inputIds` (shifted inside, as transformers does); `-100` is ignored. */
  labels?: TokenBatch;
  /** Extended in place with this call's keys and values; positions continue from it. */
  cache?: KvCache;
  /** Compute logits only for the last n positions (generation needs 1); 0 or omitted = all. */
  logitsToKeep?: number;
}

export interface CausalLmOutput {
  /** [B, T, vocab] (or [B, logitsToKeep, vocab]). */
  logits: tf.Tensor3D;
  /** Mean next-token cross-entropy, when labels were given. */
  loss?: tf.Scalar;
}

/**
 * A Llama-family causal language model with transformers' module names: `model.embed_tokens`,
 * `model.layers.<i>.self_attn.{q,k,v,o}_proj`, `model.layers.<i>.mlp.{gate,up,down}_proj`,
 * `model.layers.<i>.{input,post_attention}_layernorm`, `model.norm`, `lm_head`. Every projection
 * is a core `Linear` that PEFT injection may replace; parents look children up per call. Like a
 * transformers `PreTrainedModel`, it states what PEFT reads from one (`modelType`, `outputHeadPath`,
 * `nameOrPath`, `architecture`, `parentLibrary`; see @peft/adapter-bridge's `PeftModelInfo`).
 */
export class LlamaForCausalLM extends Module {
  readonly config: LlamaConfig;
  /**
   * With tied embeddings, the head layer built from `embed_tokens` at load time. Saving compares
   * the current `lm_head` with it: a merge that replaced the head unties the weights.
   */
  readonly tiedHead: QuantizedLinear | null;

  /** The output head, which PEFT's "all-linear" leaves alone (read by @peft/adapter-bridge). */
  readonly outputHeadPath = 'lm_head';
  /**
   * Where the model came from (a folder or Hub id), as transformers' `name_or_path`: PEFT writes it to
   * an adapter's `base_model_name_or_path`. `loadPretrained` sets it from the files' name; a config's
   * `_name_or_path` is the fallback.
   */
  nameOrPath: string | undefined;

  constructor(
    config: LlamaConfig,
    parts: { model: LlamaModel; lmHead: Linear; tiedHead?: QuantizedLinear | null },
  ) {
    super();
    this.config = config;
    this.tiedHead = parts.tiedHead ?? null;
    const saved = config.raw['_name_or_path'];
    this.nameOrPath = typeof saved === 'string' && saved !== '' ? saved : undefined;
    this.registerModule('model', parts.model);
    this.registerModule('lm_head', parts.lmHead);
  }

  get model(): LlamaModel {
    return this.child<LlamaModel>('model');
  }

  /** Hugging Face `model_type` ("llama", "mistral", "qwen2"): PEFT's default targets depend on it. */
  get modelType(): string {
    return this.config.modelType;
  }

  /** The transformers class, e.g. "LlamaForCausalLM", for an adapter's `auto_mapping`. */
  get architecture(): string {
    return architectureOf(this.config.modelType);
  }

  /** The Python module of that class, for an adapter's `auto_mapping`. */
  get parentLibrary(): string {
    return `transformers.models.${this.config.modelType}.modeling_${this.config.modelType}`;
  }

  /** A new, empty cache for `batch` rows. */
  createCache(batch: number): KvCache {
    return new KvCache(this.config.numHiddenLayers, batch);
  }

  /** Logits (and the loss when `labels` are given). Differentiable with respect to any trainable variable. */
  forward(input: CausalLmInput): CausalLmOutput {
    const { config } = this;
    const ids = toHostBatch(input.inputIds, 'inputIds');
    const labels = optionalBatch(input.labels, 'labels', ids);
    if (labels) assertRange(labels, config.vocabSize, 'labels', [IGNORE_INDEX]);
    const keep = input.logitsToKeep ?? 0;
    if (!Number.isInteger(keep) || keep < 0)
      throw new InputError(`logitsToKeep must be a non-negative integer, got ${keep}`);
    if (labels && keep > 0)
      throw new InputError('labels need logits at every position; do not combine them with logitsToKeep');
    return tf.tidy(() => {
      let hidden = this.hiddenStates(input, ids);
      if (keep > 0 && keep < ids.time) hidden = tf.slice(hidden, [0, ids.time - keep, 0], [-1, keep, -1]);
      const logits = this.child<Linear>('lm_head').forward(hidden) as tf.Tensor3D;
      if (!labels) return { logits };
      return { logits, loss: causalLmLoss(logits, labels) };
    });
  }

  /** The final norm's output [B, T, hidden] for a checked input; extends `input.cache` when given. */
  private hiddenStates(input: CausalLmInput, ids: HostBatch): tf.Tensor3D {
    const { config } = this;
    assertRange(ids, config.vocabSize, 'inputIds');
    const mask = optionalBatch(input.attentionMask, 'attentionMask', ids);
    if (mask) assertRange(mask, 2, 'attentionMask');
    const positionIds = optionalBatch(input.positionIds, 'positionIds', ids);
    if (positionIds) assertRange(positionIds, 2 ** 31 - 1, 'positionIds');
    const { cache } = input;
    if (cache && cache.batch !== ids.batch) {
      throw new InputError(`the cache holds ${cache.batch} rows but inputIds has ${ids.batch}`);
    }

    const plan = planStep({
      batch: ids.batch,
      time: ids.time,
      mask: mask ? Uint8Array.from(mask.data) : null,
      positionIds: positionIds?.data ?? null,
      cache,
    });
    const groups = config.numAttentionHeads / config.numKeyValueHeads;
    // Built up front, not lazily in a layer: a tensor made inside a layer's tf.tidy dies with that scope.
    const buildContext = (windows: Iterable<number | null>): AttentionContext => {
      const masks = new Map<number | null, AttentionMask>();
      for (const window of windows) masks.set(window, plan.attentionMask(window, groups));
      return {
        rotary: rotaryTables(config, plan.positions, ids.batch, ids.time),
        mask: (window) => {
          const found = masks.get(window);
          if (!found) throw new InputError(`no attention mask was planned for sliding window ${window}`);
          return found;
        },
        rebuild: (window) => buildContext([window]),
      };
    };
    const hidden = tf.tidy(() =>
      this.model.forward(
        tf.tensor2d(ids.data, [ids.batch, ids.time], 'int32'),
        buildContext(new Set(config.slidingWindows)),
        cache,
      ),
    );
    cache?.commit(plan.mask, ids.time, plan.nextPositions);
    return hidden;
  }

  /**
   * Activation (gradient) checkpointing, as transformers' `gradient_checkpointing_enable`: each
   * decoder layer keeps only its input for the backward pass and runs again there, so training
   * memory holds one layer's activations instead of every layer's, for about one more forward pass
   * of compute. Gradients (of inputs and of adapter variables inside the layers) are unchanged.
   * Calls with a KV cache (generation) are never checkpointed.
   */
  enableGradientCheckpointing(options: GradientCheckpointingOptions = {}): void {
    this.model.gradientCheckpointing = { ...options };
  }

  disableGradientCheckpointing(): void {
    this.model.gradientCheckpointing = null;
  }

  get gradientCheckpointing(): boolean {
    return this.model.gradientCheckpointing !== null;
  }

  /**
   * The training objective alone, for `tf.variableGrads(() => model.loss(batch))`: the mean
   * next-token cross-entropy, as `forward({ labels }).loss`, but computed over chunks of tokens
   * (`chunkedCausalLmLoss`), so no [tokens, vocab] logits tensor or gradient is ever whole.
   */
  loss(input: CausalLmInput & { labels: TokenBatch }, options: CausalLmLossOptions = {}): tf.Scalar {
    const { config } = this;
    const ids = toHostBatch(input.inputIds, 'inputIds');
    const labels = optionalBatch(input.labels, 'labels', ids)!;
    assertRange(labels, config.vocabSize, 'labels', [IGNORE_INDEX]);
    if (input.logitsToKeep) throw new InputError('loss needs every position; do not pass logitsToKeep');
    if (input.cache) throw new InputError('loss does not take a cache');
    return tf.tidy(() => {
      const hidden = this.hiddenStates(input, ids);
      return chunkedCausalLmLoss(hidden, this.child<Linear>('lm_head'), labels, options);
    });
  }
}

function optionalBatch(value: TokenBatch | undefined, name: string, ids: HostBatch): HostBatch | null {
  if (value === undefined) return null;
  const batch = toHostBatch(value, name);
  assertSameShape(ids, batch, name);
  return batch;
}
