// A minimal additive method for testing the bridge without depending on a real method package:
// a rank-one update ΔW = s · u vᵀ per layer, with s a model-level shared scalar saved as
// "base_model.toy_scale" (so shared-state saving and loading are exercised too).
import { ConfigError, fromFloat32, type HostTensor, Module, toFloat32 } from '@peft/core';
import * as tf from '@tensorflow/tfjs-core';
import {
  type ConfigSchema,
  checkTunerConfig,
  floatField,
  type MethodLayer,
  type ParseOptions,
  type PeftMethod,
  parseWithSchema,
  schemaToJson,
  type TunerConfigFields,
  tunerConfigSchema,
} from '../method/index.js';

export interface ToyConfig extends TunerConfigFields {
  peft_type: 'TOY';
  /** Initial value of the shared scale. */
  scale: number;
  dropout: number;
}

export const toySchema: ConfigSchema<ToyConfig> = {
  ...(tunerConfigSchema('TOY', 'toy_only') as ConfigSchema<Omit<ToyConfig, 'scale' | 'dropout'>>),
  scale: floatField(1),
  dropout: floatField(0),
};

export function toyConfig(fields: Partial<ToyConfig> = {}): ToyConfig {
  return parseToy({ ...fields, peft_type: 'TOY' }, { source: 'ToyConfig' });
}

function parseToy(input: Record<string, unknown>, options: ParseOptions): ToyConfig {
  const c = parseWithSchema(toySchema, input, options);
  checkTunerConfig(c, options.source);
  return c;
}

export interface ToyShared {
  scale: tf.Variable;
}

export class ToyLayer extends Module implements MethodLayer {
  readonly u: tf.Variable;
  readonly v: tf.Variable;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    private readonly shared: ToyShared,
    private readonly dropout: number,
    seed: number,
  ) {
    super();
    // Deterministic non-zero values, so the adapter changes the output from the start.
    this.u = this.registerParameter(
      'u',
      tf.tidy(() => tf.variable(tf.linspace(0.1 + seed, -0.2, outFeatures), true)),
    );
    this.v = this.registerParameter(
      'v',
      tf.tidy(() => tf.variable(tf.reshape(tf.linspace(-0.3, 0.25, inFeatures), [1, inFeatures]), true)),
    );
  }

  apply(x: tf.Tensor, result: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const xd = this.training && this.dropout > 0 ? tf.dropout(x, this.dropout) : x;
      const proj = tf.sum(tf.mul(xd, tf.reshape(this.v, [this.inFeatures])), -1, true);
      return tf.add(result, tf.mul(tf.mul(proj, this.u), this.shared.scale));
    });
  }

  deltaWeight(): tf.Tensor2D {
    return tf.tidy(() =>
      tf.mul(
        tf.matMul(tf.reshape(this.u, [this.outFeatures, 1]) as tf.Tensor2D, this.v as tf.Tensor2D),
        this.shared.scale,
      ),
    );
  }

  stateVariables(): ReadonlyMap<string, tf.Variable> {
    return new Map([
      ['toy_u', this.u],
      ['toy_v.weight', this.v],
    ]);
  }
}

let layerCount = 0;

export const toyMethod: PeftMethod<ToyConfig, ToyShared> = {
  specificationVersion: 'v1',
  peftType: 'TOY',
  packageName: '@peft/toy',
  prefix: 'toy_',
  biasOnly: 'toy_only',
  defaultTargetModules: { llama: ['q_proj', 'v_proj'] },
  parseConfig: parseToy,
  configToJson: (c) => schemaToJson(toySchema, c),
  checkNewAdapter(config) {
    if (config.scale === 13) throw new ConfigError('scale 13 is refused by checkNewAdapter');
  },
  createSharedState: ({ config }) => ({ scale: tf.tidy(() => tf.variable(tf.scalar(config.scale), false)) }),
  createLayer: (c) => {
    if (c.path.includes('explode')) throw new Error('layer creation failed');
    return new ToyLayer(c.inFeatures, c.outFeatures, c.shared, c.config.dropout, (layerCount++ % 3) * 0.05);
  },
  sharedStateShapes: () => new Map([['toy_scale', []]]),
  saveSharedState: (s) =>
    new Map<string, HostTensor>([['toy_scale', fromFloat32(s.scale.dataSync() as Float32Array, [], 'F32')]]),
  loadSharedState(s, _c, entries) {
    const t = entries.get('toy_scale');
    if (!t) return;
    const value = tf.scalar(toFloat32(t)[0]!);
    s.scale.assign(value);
    value.dispose();
  },
  disposeSharedState: (s) => s.scale.dispose(),
};
