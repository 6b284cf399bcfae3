import { DenseLinear, Linear, Module, ModuleList } from '@peft/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { Bnb4Linear } from './bnb4-linear.js';
import { quantizeModule } from './quantize-module.js';
import { useBackend } from './test-support/tf.js';

beforeAll(() => useBackend('cpu'));

class Block extends Module {
  constructor(out: number, inF: number, seed: number) {
    super();
    const w = Float32Array.from({ length: out * inF }, (_, i) => Math.sin(seed * 7 + i * 0.37));
    this.registerModule(
      'proj',
      new Linear(DenseLinear.fromArray(w, out, inF, new Float32Array(out).fill(0.5))),
    );
  }
}

class Tree extends Module {
  constructor() {
    super();
    this.registerModule('layers', new ModuleList([new Block(64, 128, 1), new Block(128, 64, 2)]));
    this.registerModule('lm_head', new Block(32, 64, 3).child('proj'));
  }
}

describe('quantizeModule', () => {
  it('turns every linear but the output head into Bnb4Linear with the same dequantized weight as quantize4bit', () => {
    const tree = new Tree();
    const before = (tree.getSubmodule('layers.0.proj') as Linear).layer.dequantize();
    const paths = quantizeModule(tree);
    expect(paths).toEqual(['layers.0.proj', 'layers.1.proj']);
    const layer = (tree.getSubmodule('layers.0.proj') as Linear).layer;
    expect(layer).toBeInstanceOf(Bnb4Linear);
    expect([layer.outFeatures, layer.inFeatures]).toEqual([64, 128]);
    expect(Array.from(layer.bias!.dataSync())).toEqual(new Array(64).fill(0.5));
    const reference = Bnb4Linear.quantize(before);
    const a = layer.dequantize();
    const b = reference.dequantize();
    expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
    expect((tree.getSubmodule('lm_head') as Linear).layer.scheme).toBe('dense');
    expect(quantizeModule(tree)).toEqual([]);
    tf.dispose([before, a, b]);
    reference.dispose();
    tree.dispose();
  });

  it('honours include, exclude and the quantization options', () => {
    const tree = new Tree();
    const paths = quantizeModule(tree, {
      include: /layers\.1/,
      quantType: 'fp4',
      doubleQuant: false,
      blocksize: 128,
    });
    expect(paths).toEqual(['layers.1.proj']);
    expect((tree.getSubmodule('layers.1.proj') as Linear).layer.scheme).toBe('bnb4-fp4');
    expect((tree.getSubmodule('layers.0.proj') as Linear).layer.scheme).toBe('dense');
    tree.dispose();
  });
});
