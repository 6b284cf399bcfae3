import * as tf from '@tensorflow/tfjs-core';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DenseLinear } from './dense-linear.js';
import { RegistryError, ShapeMismatchError, SpecificationVersionError } from './errors.js';
import { globalRegistry } from './global-registry.js';
import { fromFloat32, fromIntegers } from './host-tensor.js';
import { Linear } from './linear.js';
import {
  type LinearFormat,
  loadLinear,
  registeredLinearFormats,
  registerLinearFormat,
  unregisterLinearFormat,
} from './linear-format.js';
import type { QuantizedLinear } from './quantized-linear.js';
import { stateDictSource } from './tensor-source.js';
import { useCpuBackend } from './test-support/tf-cpu.js';

beforeAll(useCpuBackend);
afterEach(() => unregisterLinearFormat('toy'));

// A toy "quantized" format: weights stored as I8 with one F32 scale, recognised by a marker tensor.
const toyFormat: LinearFormat = {
  specificationVersion: 'v1',
  name: 'toy',
  detect: (source, prefix) => source.has(`${prefix}weight.toy_scale`),
  read: async (source, prefix) => {
    const q = await source.get(`${prefix}weight`);
    const scale = new DataView((await source.get(`${prefix}weight.toy_scale`)).data.buffer).getFloat32(
      0,
      true,
    );
    const values = Float32Array.from(
      new Int8Array(q.data.buffer, q.data.byteOffset, q.data.byteLength),
      (v) => v * scale,
    );
    const layer = DenseLinear.fromArray(values, q.shape[0]!, q.shape[1]!);
    return Object.assign(Object.create(layer), { scheme: 'toy' }) as QuantizedLinear;
  },
};

describe('linear-format registry', () => {
  const dict = new Map([
    ['a.weight', fromFloat32([1, 2, 3, 4, 5, 6], [2, 3])],
    ['a.bias', fromFloat32([0.5, -0.5], [2])],
    ['b.weight', fromIntegers([1, -2, 3, -4], [2, 2], 'I8')],
    ['b.weight.toy_scale', fromFloat32([0.5], [1])],
  ]);
  const source = stateDictSource(dict, 'toy.safetensors');

  it('loads plain weights as DenseLinear with bias', async () => {
    const layer = await loadLinear(source, 'a.');
    expect(layer.scheme).toBe('dense');
    expect([layer.outFeatures, layer.inFeatures]).toEqual([2, 3]);
    const y = layer.forward(tf.tensor2d([[1, 0, 0]]));
    expect(Array.from(y.dataSync())).toEqual([1.5, 3.5]);
    tf.dispose(y);
    layer.dispose();
  });

  it('loads through a registered format when its detector claims the prefix', async () => {
    registerLinearFormat(toyFormat);
    expect(registeredLinearFormats()).toContain('toy');
    const layer = await loadLinear(source, 'b.');
    expect(layer.scheme).toBe('toy');
    const w = layer.dequantize();
    expect(Array.from(w.dataSync())).toEqual([0.5, -1, 1.5, -2]);
    tf.dispose(w);
  });

  it('shares one registry between copies of the package (keyed on globalThis)', () => {
    registerLinearFormat(toyFormat);
    expect(globalRegistry<LinearFormat>('linear-formats').get('toy')).toBe(toyFormat);
    // A second registration of the same name (e.g. from a second installed copy) keeps the first.
    registerLinearFormat({ ...toyFormat });
    expect(globalRegistry<LinearFormat>('linear-formats').get('toy')).toBe(toyFormat);
  });

  it('names the file and prefix when nothing can read a linear', async () => {
    await expect(loadLinear(source, 'missing.')).rejects.toThrow(RegistryError);
    await expect(loadLinear(source, 'missing.')).rejects.toThrow(/toy\.safetensors.*"missing\.weight"/);
  });

  it('rejects a dense weight that is not a 2-D float tensor', async () => {
    const bad = stateDictSource(new Map([['c.weight', fromFloat32([1, 2, 3], [3])]]), 'bad.safetensors');
    await expect(loadLinear(bad, 'c.')).rejects.toThrow(ShapeMismatchError);
  });

  it('refuses a layer built against an unknown contract version', () => {
    const layer = DenseLinear.fromArray(new Float32Array(4), 2, 2);
    const future = Object.assign(Object.create(layer), { specificationVersion: 'v9' }) as QuantizedLinear;
    expect(() => new Linear(future)).toThrow(SpecificationVersionError);
    expect(() => new Linear(future)).toThrow(/"v9".*Upgrade/);
    expect(() => new Linear(future)).toThrow(/Upgrade @peft\/core: .* was built for a newer contract/);
    const past = Object.assign(Object.create(layer), { specificationVersion: 'v0' }) as QuantizedLinear;
    expect(() => new Linear(past)).toThrow(
      /scheme "dense"\) implements specification version "v0".*Upgrade the package that provides it to a release built for "v1"/,
    );
    layer.dispose();
  });

  it('refuses to register a linear format built against an unknown contract version, saying what to upgrade', () => {
    const future = { ...toyFormat, name: 'future', specificationVersion: 'v2' } as unknown as LinearFormat;
    expect(() => registerLinearFormat(future)).toThrow(SpecificationVersionError);
    expect(() => registerLinearFormat(future)).toThrow(/linear format "future".*Upgrade @peft\/core/);
    expect(registeredLinearFormats()).not.toContain('future');
  });
});
