import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { DenseLinear } from './dense-linear.js';
import { ModulePathError } from './errors.js';
import { isLinear, Linear } from './linear.js';
import { Module, ModuleList } from './module.js';
import { useCpuBackend } from './test-support/tf-cpu.js';

beforeAll(useCpuBackend);

class Block extends Module {
  constructor(width: number) {
    super();
    this.registerModule(
      'proj',
      new Linear(DenseLinear.fromArray(new Float32Array(width * width).fill(1), width, width)),
    );
    this.registerParameter('scale', tf.variable(tf.ones([width]), true));
  }
  forward(x: tf.Tensor): tf.Tensor {
    // Looked up at call time, so a replaced child is used.
    return tf.mul(this.child<Linear>('proj').forward(x), this.ownNamedParameters()[0]![1]);
  }
}

class Tree extends Module {
  constructor() {
    super();
    this.registerModule('layers', new ModuleList([new Block(2), new Block(3)]));
  }
}

describe('Module tree', () => {
  it('lists named modules depth first with dotted paths', () => {
    const tree = new Tree();
    expect([...tree.namedModules()].map(([p]) => p)).toEqual([
      '',
      'layers',
      'layers.0',
      'layers.0.proj',
      'layers.1',
      'layers.1.proj',
    ]);
    expect([...tree.namedParameters()].map(([p]) => p)).toEqual(['layers.0.scale', 'layers.1.scale']);
    expect(tree.trainableVariables()).toHaveLength(2);
    tree.dispose();
  });

  it('gets and replaces submodules by dotted path, and parents call the replacement', () => {
    const tree = new Tree();
    const block = tree.getSubmodule('layers.0') as Block;
    const x = tf.tensor2d([[1, 2]]);
    expect(Array.from(block.forward(x).dataSync())).toEqual([3, 3]);
    const doubled = new Linear(DenseLinear.fromArray(new Float32Array([2, 0, 0, 2]), 2, 2));
    const old = tree.setSubmodule('layers.0.proj', doubled);
    expect(isLinear(old)).toBe(true);
    expect(tree.getSubmodule('layers.0.proj')).toBe(doubled);
    expect(Array.from(block.forward(x).dataSync())).toEqual([2, 4]);
    old.dispose();
    x.dispose();
    tree.dispose();
  });

  it('names the missing part and the existing children in path errors', () => {
    const tree = new Tree();
    expect(() => tree.getSubmodule('layers.7.proj')).toThrow(ModulePathError);
    expect(() => tree.getSubmodule('layers.7.proj')).toThrow(
      /"7" is not a child of layers; its children are: 0, 1/,
    );
    expect(() => tree.setSubmodule('layers.0.nope', new Tree())).toThrow(/does not exist/);
    tree.dispose();
  });

  it('ModuleList indexes, iterates and sees replacements', () => {
    const tree = new Tree();
    const layers = tree.child<ModuleList<Block>>('layers');
    expect(layers.length).toBe(2);
    expect([...layers]).toEqual([layers.at(0), layers.at(1)]);
    const replacement = new Block(2);
    const old = tree.setSubmodule('layers.0', replacement);
    expect(layers.at(0)).toBe(replacement);
    old.dispose();
    tree.dispose();
  });

  it('propagates train/eval to every descendant', () => {
    const tree = new Tree();
    expect(tree.getSubmodule('layers.1.proj').training).toBe(false);
    tree.train();
    expect([...tree.namedModules()].every(([, m]) => m.training)).toBe(true);
    tree.eval();
    expect([...tree.namedModules()].some(([, m]) => m.training)).toBe(false);
    tree.dispose();
  });

  it('recognises Linear leaves by brand and exposes the logical shape', () => {
    const linear = new Linear(DenseLinear.fromArray(new Float32Array(6), 2, 3));
    expect(isLinear(linear)).toBe(true);
    expect(isLinear({})).toBe(false);
    expect([linear.outFeatures, linear.inFeatures]).toEqual([2, 3]);
    linear.dispose();
  });
});
