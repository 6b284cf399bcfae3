import {
  DenseLinear,
  Linear,
  Module,
  ModuleList,
  type QuantizedLinear,
  TorchGenerator,
  uniform_,
} from '@peft/core';
import * as tf from '@tensorflow/tfjs-core';

/** Builds one base layer from a row-major [out, in] float32 weight; `path` names it (for messages). */
export type BaseLayerFactory = (
  weight: Float32Array,
  outFeatures: number,
  inFeatures: number,
  path: string,
) => QuantizedLinear;

export interface TinyLlamaOptions {
  readonly hidden?: number;
  /** Width of k_proj / v_proj (grouped-query attention); must divide `hidden`. */
  readonly kvHidden?: number;
  readonly intermediate?: number;
  readonly vocab?: number;
  readonly layers?: number;
  /** Seed of the deterministic weights. */
  readonly seed?: number;
  /** How base layers are built (default: `DenseLinear`); a quantizer's tests pass its own. */
  readonly makeLayer?: BaseLayerFactory;
}

const denseLayer: BaseLayerFactory = (w, out, inF) => DenseLinear.fromArray(w, out, inF);

function rmsNorm(x: tf.Tensor, weight: tf.Variable): tf.Tensor {
  return tf.tidy(() => {
    const variance = tf.mean(tf.square(x), -1, true);
    return tf.mul(tf.mul(x, tf.rsqrt(tf.add(variance, 1e-6))), weight);
  });
}

class Attention extends Module {
  constructor(linear: (name: string, out: number, inF: number) => Linear, hidden: number, kv: number) {
    super();
    this.registerModule('q_proj', linear('q_proj', hidden, hidden));
    this.registerModule('k_proj', linear('k_proj', kv, hidden));
    this.registerModule('v_proj', linear('v_proj', kv, hidden));
    this.registerModule('o_proj', linear('o_proj', hidden, hidden));
  }

  // Not real attention: a cheap mix that still runs every projection with its own shape.
  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const q = this.child<Linear>('q_proj').forward(x);
      const k = this.child<Linear>('k_proj').forward(x);
      const v = this.child<Linear>('v_proj').forward(x);
      const groups = q.shape[q.shape.length - 1]! / k.shape[k.shape.length - 1]!;
      const kv = tf.mul(tf.sigmoid(k), v);
      const mixed = tf.mul(q, tf.tile(kv, [...kv.shape.slice(0, -1).map(() => 1), groups]));
      return this.child<Linear>('o_proj').forward(mixed);
    });
  }
}

class Mlp extends Module {
  constructor(
    linear: (name: string, out: number, inF: number) => Linear,
    hidden: number,
    intermediate: number,
  ) {
    super();
    this.registerModule('gate_proj', linear('gate_proj', intermediate, hidden));
    this.registerModule('up_proj', linear('up_proj', intermediate, hidden));
    this.registerModule('down_proj', linear('down_proj', hidden, intermediate));
  }

  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const gate = this.child<Linear>('gate_proj').forward(x);
      const up = this.child<Linear>('up_proj').forward(x);
      return this.child<Linear>('down_proj').forward(tf.mul(tf.mul(gate, tf.sigmoid(gate)), up));
    });
  }
}

class DecoderLayer extends Module {
  constructor(linear: (name: string, out: number, inF: number) => Linear, o: Required<TinyLlamaOptions>) {
    super();
    this.registerModule(
      'self_attn',
      new Attention((n, out, inF) => linear(`self_attn.${n}`, out, inF), o.hidden, o.kvHidden),
    );
    this.registerModule(
      'mlp',
      new Mlp((n, out, inF) => linear(`mlp.${n}`, out, inF), o.hidden, o.intermediate),
    );
    this.registerParameter(
      'input_layernorm_weight',
      tf.tidy(() => tf.variable(tf.ones([o.hidden]), false)),
    );
    this.registerParameter(
      'post_attention_layernorm_weight',
      tf.tidy(() => tf.variable(tf.ones([o.hidden]), false)),
    );
  }

  private param(name: string): tf.Variable {
    return this.ownNamedParameters().find(([n]) => n === name)![1];
  }

  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const h = tf.add(
        x,
        this.child<Attention>('self_attn').forward(rmsNorm(x, this.param('input_layernorm_weight'))),
      );
      return tf.add(
        h,
        this.child<Mlp>('mlp').forward(rmsNorm(h, this.param('post_attention_layernorm_weight'))),
      );
    });
  }
}

class TinyLlamaModel extends Module {
  constructor(linear: (path: string, out: number, inF: number) => Linear, o: Required<TinyLlamaOptions>) {
    super();
    const layers = new ModuleList<DecoderLayer>();
    for (let i = 0; i < o.layers; i++) {
      layers.append(new DecoderLayer((n, out, inF) => linear(`model.layers.${i}.${n}`, out, inF), o));
    }
    this.registerModule('layers', layers);
    this.registerParameter(
      'norm_weight',
      tf.tidy(() => tf.variable(tf.ones([o.hidden]), false)),
    );
  }

  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      let h = x;
      for (const layer of this.child<ModuleList<DecoderLayer>>('layers')) h = layer.forward(h);
      return rmsNorm(h, this.ownNamedParameters()[0]![1]);
    });
  }
}

/**
 * A tiny Llama-shaped model tree with Hugging Face's module names (`model.layers.0.self_attn.q_proj`,
 * `lm_head`) whose linear layers all differ in shape: square attention q/o, narrower k/v, MLP
 * rectangular both ways, and an output head. `forward` maps hidden states [..., hidden] to logits.
 * For tests of methods and quantizers; it is not a language model.
 */
export class TinyLlamaForCausalLM extends Module {
  readonly modelType = 'llama';
  readonly architecture = 'LlamaForCausalLM';
  readonly parentLibrary = 'transformers.models.llama.modeling_llama';
  readonly nameOrPath = 'peft-js/tiny-llama-test';
  readonly options: Required<Omit<TinyLlamaOptions, 'makeLayer'>>;

  constructor(options: TinyLlamaOptions = {}) {
    super();
    const o: Required<TinyLlamaOptions> = {
      hidden: 16,
      kvHidden: 8,
      intermediate: 24,
      vocab: 12,
      layers: 2,
      seed: 0,
      makeLayer: denseLayer,
      ...options,
    };
    if (o.hidden % o.kvHidden !== 0) throw new RangeError('TinyLlama: kvHidden must divide hidden');
    const { makeLayer, ...rest } = o;
    this.options = rest;
    const generator = new TorchGenerator(o.seed);
    const linear = (path: string, out: number, inF: number): Linear => {
      const bound = 1 / Math.sqrt(inF);
      const w = uniform_(new Float32Array(out * inF), -bound, bound, generator);
      return new Linear(makeLayer(w, out, inF, path));
    };
    this.registerModule('model', new TinyLlamaModel(linear, o));
    this.registerModule('lm_head', linear('lm_head', o.vocab, o.hidden));
  }

  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() =>
      this.child<Linear>('lm_head').forward(this.child<TinyLlamaModel>('model').forward(x)),
    );
  }
}
