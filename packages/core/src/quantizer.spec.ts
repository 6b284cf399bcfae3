import * as tf from '@tensorflow/tfjs-core';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DenseLinear } from './dense-linear.js';
import { ConfigError, RegistryError, SpecificationVersionError } from './errors.js';
import { Linear } from './linear.js';
import { Module } from './module.js';
import type { QuantizedLinear } from './quantized-linear.js';
import {
  getQuantizer,
  type Quantizer,
  quantizeLinears,
  registeredQuantizers,
  registerQuantizer,
  unregisterQuantizer,
} from './quantizer.js';
import { useCpuBackend } from './test-support/tf-cpu.js';

beforeAll(useCpuBackend);
afterEach(() => {
  unregisterQuantizer('toy-round');
});

/** Rounds weights to a step; "quantized" layers are dense layers with a scheme of their own. */
function roundedLayer(layer: QuantizedLinear, step: number): QuantizedLinear {
  const rounded = tf.tidy(() => {
    const w = layer.dequantize();
    return tf.mul(tf.round(tf.div(w, step)), step) as tf.Tensor2D;
  });
  const dense = new DenseLinear(rounded, layer.bias);
  rounded.dispose();
  return Object.assign(Object.create(dense) as QuantizedLinear, { scheme: 'toy-round' });
}

const quantizeCalls: string[] = [];
const toyQuantizer: Quantizer = {
  specificationVersion: 'v1',
  name: 'toy-round',
  packageName: '@peft/toy-round',
  description: 'rounds weights to a step',
  options: [{ name: 'step', type: 'number', description: 'rounding step', default: 0.25, min: 0 }],
  resolveOptions(input) {
    for (const key of Object.keys(input)) {
      if (key !== 'step') throw new ConfigError(`toy-round has no option "${key}"`);
    }
    return { step: 0.25, ...input };
  },
  storageBytes: (out, inF) => ({ disk: out * inF, memory: out * inF }),
  quantize(layer, options, name) {
    quantizeCalls.push(name ?? '?');
    return roundedLayer(layer, options['step'] as number);
  },
  quantizationConfig: (options) => ({ quant_method: 'toy', step: options['step'] }),
};

class Block extends Module {
  constructor() {
    super();
    this.registerModule(
      'q_proj',
      new Linear(DenseLinear.fromArray(new Float32Array([0.1, 0.3, 0.6, 0.9]), 2, 2)),
    );
    this.registerModule('up', new Linear(DenseLinear.fromArray(new Float32Array([0.4, 0.2]), 1, 2)));
  }
}

class Tiny extends Module {
  constructor() {
    super();
    this.registerModule('layer', new Block());
    this.registerModule('lm_head', new Linear(DenseLinear.fromArray(new Float32Array([0.33, 0.66]), 2, 1)));
  }
}

describe('quantizer registry', () => {
  it('registers, lists, finds and unregisters by name; a second registration is a no-op unless replacing', () => {
    registerQuantizer(toyQuantizer);
    expect(getQuantizer('toy-round')).toBe(toyQuantizer);
    expect(registeredQuantizers()).toContain(toyQuantizer);
    const copy = { ...toyQuantizer, description: 'copy' };
    registerQuantizer(copy);
    expect(getQuantizer('toy-round').description).toBe('rounds weights to a step');
    registerQuantizer(copy, { replace: true });
    expect(getQuantizer('toy-round').description).toBe('copy');
    expect(unregisterQuantizer('toy-round')).toBe(true);
    expect(unregisterQuantizer('toy-round')).toBe(false);
  });

  it('is shared through globalThis, so two copies of core see the same quantizers', () => {
    registerQuantizer(toyQuantizer);
    const store = (globalThis as unknown as Record<symbol, Map<string, unknown>>)[
      Symbol.for('@peft/registry/quantizers')
    ];
    expect(store?.get('toy-round')).toBe(toyQuantizer);
  });

  it('an unknown name lists the registered ones and says to install and import the package', () => {
    registerQuantizer(toyQuantizer);
    expect(() => getQuantizer('int3')).toThrow(RegistryError);
    expect(() => getQuantizer('int3')).toThrow(
      /no quantizer named "int3" is registered \(registered: .*toy-round.*\); install the package that provides it and import it/,
    );
  });

  it('refuses an unknown contract version, saying which side to upgrade', () => {
    const newer = { ...toyQuantizer, specificationVersion: 'v2' } as unknown as Quantizer;
    expect(() => registerQuantizer(newer)).toThrow(SpecificationVersionError);
    expect(() => registerQuantizer(newer)).toThrow(/Upgrade @peft\/core/);
    expect(registeredQuantizers()).not.toContain(newer);
  });
});

describe('quantizeLinears', () => {
  it('replaces every dense linear but lm_head, disposing each dense layer, and returns the paths', () => {
    const model = new Tiny();
    const before = new Map(
      [...model.namedModules()]
        .filter(([, m]) => m instanceof Linear)
        .map(([p, m]) => [p, (m as Linear).layer]),
    );
    const disposed: string[] = [];
    for (const [path, layer] of before) {
      const dispose = layer.dispose.bind(layer);
      layer.dispose = () => {
        disposed.push(path);
        dispose();
      };
    }
    quantizeCalls.length = 0;
    const tensorsBefore = tf.memory().numTensors;
    const paths = quantizeLinears(model, toyQuantizer, {});
    expect(paths).toEqual(['layer.q_proj', 'layer.up']);
    // The dense layer is gone before the next one is quantized: peak memory is one layer.
    expect(quantizeCalls).toEqual(['layer.q_proj', 'layer.up']);
    expect(disposed).toEqual(['layer.q_proj', 'layer.up']);
    expect(tf.memory().numTensors).toBe(tensorsBefore);
    const q = model.child<Module>('layer').child<Linear>('q_proj').layer;
    expect(q.scheme).toBe('toy-round');
    const w = q.dequantize();
    expect(Array.from(w.dataSync())).toEqual([0, 0.25, 0.5, 1]);
    w.dispose();
    expect(model.child<Linear>('lm_head').layer.scheme).toBe('dense');
    // Already quantized layers are left alone on a second pass.
    expect(quantizeLinears(model, toyQuantizer, { step: 0.5 })).toEqual([]);
    model.dispose();
  });

  it('takes a skip rule and resolves options first (unknown keys refused before any layer changes)', () => {
    const model = new Tiny();
    expect(() => quantizeLinears(model, toyQuantizer, { stepp: 1 })).toThrow(/no option "stepp"/);
    expect(model.child<Module>('layer').child<Linear>('q_proj').layer.scheme).toBe('dense');
    const paths = quantizeLinears(model, toyQuantizer, { step: 0.5 }, (path) => path.endsWith('up'));
    expect(paths).toEqual(['layer.q_proj', 'lm_head']);
    model.dispose();
  });
});
