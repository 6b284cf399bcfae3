/**
 * A slow, obviously-correct float64 forward of transformers' Llama/Mistral/Qwen2 (eager attention),
 * written from the modelling code's structure with plain loops and no TensorFlow.js, to check the
 * real model against. It reads the raw `config.json` fields itself (not the package's parser) and
 * follows transformers' formulation where the package uses an equivalent one: RoPE through
 * `rotate_half` on the full head with cos/sin of cat(freqs, freqs); K/V repeated per query head.
 */
import { type StateDict, toFloat32 } from '@peft/core';

type Raw = Record<string, unknown>;
type Weights = Map<string, Float64Array>;

export function weightsOf(dict: StateDict): Weights {
  const out: Weights = new Map();
  for (const [k, v] of dict) out.set(k, Float64Array.from(toFloat32(v)));
  return out;
}

function num(raw: Raw, key: string, fallback?: number): number {
  const v = raw[key];
  if (typeof v === 'number') return v;
  if (fallback === undefined) throw new Error(`reference: config lacks ${key}`);
  return fallback;
}

/** transformers' inverse frequencies for the rope types the package supports. */
export function referenceInvFreq(raw: Raw, seqLen: number): number[] {
  const heads = num(raw, 'num_attention_heads');
  const dim = num(raw, 'head_dim', num(raw, 'hidden_size') / heads);
  let base = num(raw, 'rope_theta', 10000);
  const scaling = (raw['rope_scaling'] ?? null) as Raw | null;
  const type = scaling ? (scaling['rope_type'] ?? scaling['type']) : 'default';
  const maxPos = num(raw, 'max_position_embeddings', 2048);
  if (type === 'dynamic') {
    const factor = num(scaling!, 'factor');
    const len = Math.max(seqLen, maxPos);
    base = base * ((factor * len) / maxPos - (factor - 1)) ** (dim / (dim - 2));
  }
  const inv: number[] = [];
  for (let i = 0; i < dim; i += 2) inv.push(1 / base ** (i / dim));
  if (type === 'linear') return inv.map((f) => f / num(scaling!, 'factor'));
  if (type === 'llama3') {
    const factor = num(scaling!, 'factor');
    const low = num(scaling!, 'low_freq_factor');
    const high = num(scaling!, 'high_freq_factor');
    const old = num(scaling!, 'original_max_position_embeddings');
    const lowWavelen = old / low;
    const highWavelen = old / high;
    return inv.map((f) => {
      const wavelen = (2 * Math.PI) / f;
      const scaled = wavelen > lowWavelen ? f / factor : f;
      const smooth = (old / wavelen - low) / (high - low);
      const smoothed = ((1 - smooth) * scaled) / factor + smooth * scaled;
      const medium = !(wavelen < highWavelen) && !(wavelen > lowWavelen);
      return medium ? smoothed : scaled;
    });
  }
  return inv;
}

function linear(w: Weights, name: string, x: Float64Array, out: number, bias: boolean): Float64Array {
  const weight = w.get(`${name}.weight`)!;
  const b = bias ? w.get(`${name}.bias`)! : null;
  const inF = x.length;
  const y = new Float64Array(out);
  for (let o = 0; o < out; o++) {
    let s = b ? b[o]! : 0;
    for (let i = 0; i < inF; i++) s += weight[o * inF + i]! * x[i]!;
    y[o] = s;
  }
  return y;
}

function rmsNorm(x: Float64Array, weight: Float64Array, eps: number): Float64Array {
  let ms = 0;
  for (const v of x) ms += v * v;
  ms /= x.length;
  const scale = 1 / Math.sqrt(ms + eps);
  return x.map((v, i) => weight[i]! * v * scale);
}

function rope(vec: Float64Array, offset: number, dim: number, position: number, inv: number[]): void {
  const cos = new Float64Array(dim);
  const sin = new Float64Array(dim);
  for (let i = 0; i < dim; i++) {
    const angle = position * inv[i % (dim / 2)]!;
    cos[i] = Math.cos(angle);
    sin[i] = Math.sin(angle);
  }
  const x = vec.slice(offset, offset + dim);
  const rotated = new Float64Array(dim);
  for (let i = 0; i < dim / 2; i++) {
    rotated[i] = -x[i + dim / 2]!;
    rotated[i + dim / 2] = x[i]!;
  }
  for (let i = 0; i < dim; i++) vec[offset + i] = x[i]! * cos[i]! + rotated[i]! * sin[i]!;
}

/**
 * Logits [T][vocab] for one unpadded sequence at positions 0..T-1 (or `positions`).
 */
export function referenceLogits(
  raw: Raw,
  w: Weights,
  ids: readonly number[],
  positions?: readonly number[],
): Float64Array[] {
  const type = raw['model_type'] as string;
  const hidden = num(raw, 'hidden_size');
  const heads = num(raw, 'num_attention_heads');
  const kvHeads = num(raw, 'num_key_value_heads', heads);
  const dim = num(raw, 'head_dim', hidden / heads);
  const layers = num(raw, 'num_hidden_layers');
  const inter = num(raw, 'intermediate_size');
  const vocab = num(raw, 'vocab_size');
  const eps = num(raw, 'rms_norm_eps', 1e-6);
  const qkvBias = type === 'qwen2' || raw['attention_bias'] === true;
  const oBias = type === 'llama' && raw['attention_bias'] === true;
  const mlpBias = type === 'llama' && raw['mlp_bias'] === true;
  const window =
    type === 'mistral' || (type === 'qwen2' && raw['use_sliding_window'] === true)
      ? ((raw['sliding_window'] as number | null) ?? null)
      : null;
  const firstWindowLayer = type === 'qwen2' ? num(raw, 'max_window_layers', 28) : 0;
  const T = ids.length;
  const pos = positions ?? ids.map((_, t) => t);
  const inv = referenceInvFreq(raw, Math.max(...pos) + 1);
  const embed = w.get('model.embed_tokens.weight')!;

  let h = ids.map((id) => embed.slice(id * hidden, (id + 1) * hidden));
  for (let l = 0; l < layers; l++) {
    const p = `model.layers.${l}`;
    const layerWindow = l >= firstWindowLayer ? window : null;
    const normed = h.map((x) => rmsNorm(x, w.get(`${p}.input_layernorm.weight`)!, eps));
    const q = normed.map((x) => linear(w, `${p}.self_attn.q_proj`, x, heads * dim, qkvBias));
    const k = normed.map((x) => linear(w, `${p}.self_attn.k_proj`, x, kvHeads * dim, qkvBias));
    const v = normed.map((x) => linear(w, `${p}.self_attn.v_proj`, x, kvHeads * dim, qkvBias));
    for (let t = 0; t < T; t++) {
      for (let hd = 0; hd < heads; hd++) rope(q[t]!, hd * dim, dim, pos[t]!, inv);
      for (let hd = 0; hd < kvHeads; hd++) rope(k[t]!, hd * dim, dim, pos[t]!, inv);
    }
    const attnOut = h.map(() => new Float64Array(heads * dim));
    for (let hd = 0; hd < heads; hd++) {
      const kv = Math.floor(hd / (heads / kvHeads)); // repeat_kv
      for (let t = 0; t < T; t++) {
        const scores: number[] = [];
        for (let j = 0; j <= t; j++) {
          if (layerWindow !== null && t - j >= layerWindow) {
            scores.push(Number.NEGATIVE_INFINITY);
            continue;
          }
          let s = 0;
          for (let i = 0; i < dim; i++) s += q[t]![hd * dim + i]! * k[j]![kv * dim + i]!;
          scores.push(s / Math.sqrt(dim));
        }
        const max = Math.max(...scores);
        const e = scores.map((s) => Math.exp(s - max));
        const z = e.reduce((a, b) => a + b, 0);
        for (let j = 0; j <= t; j++) {
          for (let i = 0; i < dim; i++) attnOut[t]![hd * dim + i]! += (e[j]! / z) * v[j]![kv * dim + i]!;
        }
      }
    }
    h = h.map((x, t) => {
      const o = linear(w, `${p}.self_attn.o_proj`, attnOut[t]!, hidden, oBias);
      return x.map((xi, i) => xi + o[i]!);
    });
    h = h.map((x) => {
      const n = rmsNorm(x, w.get(`${p}.post_attention_layernorm.weight`)!, eps);
      const gate = linear(w, `${p}.mlp.gate_proj`, n, inter, mlpBias);
      const up = linear(w, `${p}.mlp.up_proj`, n, inter, mlpBias);
      const act = gate.map((g, i) => (g / (1 + Math.exp(-g))) * up[i]!);
      const down = linear(w, `${p}.mlp.down_proj`, act, hidden, mlpBias);
      return x.map((xi, i) => xi + down[i]!);
    });
  }
  const tied = raw['tie_word_embeddings'] === true;
  const headName = tied ? 'model.embed_tokens' : 'lm_head';
  return h.map((x) => linear(w, headName, rmsNorm(x, w.get('model.norm.weight')!, eps), vocab, false));
}

/** transformers' ForCausalLMLoss on reference logits: shift, ignore -100, mean. */
export function referenceLoss(
  logitsPerRow: Float64Array[][],
  labels: readonly (readonly number[])[],
): number {
  let total = 0;
  let count = 0;
  logitsPerRow.forEach((rows, b) => {
    for (let t = 0; t + 1 < rows.length; t++) {
      const label = labels[b]![t + 1]!;
      if (label === -100) continue;
      const z = rows[t]!;
      const max = Math.max(...z);
      let sum = 0;
      for (const v of z) sum += Math.exp(v - max);
      total += max + Math.log(sum) - z[label]!;
      count++;
    }
  });
  return total / count;
}
