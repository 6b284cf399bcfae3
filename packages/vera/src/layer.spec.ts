import {
  getPeftModel,
  type PeftWarning,
  restoreAdapterRandom,
  seedAdapterRandom,
  setWarningHandler,
} from '@peft/adapter-bridge';
import { DenseLinear, Linear, Module } from '@peft/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { projectionArrays, type VeraLayer, type VeraSharedState, veraConfig } from './index.js';
import { useCpuBackend } from './test-support/tf-cpu.js';

beforeAll(useCpuBackend);
setWarningHandler((_w: PeftWarning) => {});

// Two layers of different shapes share one projection pair: (5 x 7) and (3 x 9) -> A (r, 9), B (5, r).
class Pair extends Module {
  constructor() {
    super();
    const w = (n: number) => new Float32Array(Array.from({ length: n }, (_, i) => Math.sin(i + n)));
    this.registerModule(
      'p',
      new Linear(DenseLinear.fromArray(w(35), 5, 7, new Float32Array([1, 2, 3, 4, 5]))),
    );
    this.registerModule('q', new Linear(DenseLinear.fromArray(w(27), 3, 9)));
  }
}

function setup(fields: Parameters<typeof veraConfig>[0] = {}) {
  const model = new Pair();
  const peft = getPeftModel(
    model,
    veraConfig({ r: 4, target_modules: ['p', 'q'], init_weights: false, ...fields }),
  );
  const layer = (path: string) => {
    const l = peft.adapterLayers().find(([p]) => p === path)![1];
    return { wrapper: l, vera: l.adapter('default') as VeraLayer };
  };
  const { A, B } = projectionArrays((peft.sharedState('default') as VeraSharedState).projections);
  return { model, peft, layer, A, B };
}

/** ΔW[o][i] = λ_b[o] Σ_k B[o][k] λ_d[k] A[k][i], with A (r, maxIn) and B (maxOut, r) sliced to (out, in). */
function referenceDelta(
  A: Float32Array,
  B: Float32Array,
  maxIn: number,
  r: number,
  lb: Float32Array,
  ld: Float32Array,
  out: number,
  inF: number,
) {
  const d: number[][] = [];
  for (let o = 0; o < out; o++) {
    d.push([]);
    for (let i = 0; i < inF; i++) {
      let s = 0;
      for (let k = 0; k < r; k++) s += B[o * r + k]! * ld[k]! * A[k * maxIn + i]!;
      d[o]!.push(lb[o]! * s);
    }
  }
  return d;
}

describe('VeraLayer', () => {
  it('starts as a no-op with λ_b = 0 and λ_d = d_initial (init_weights)', () => {
    const { peft, layer } = setup({ init_weights: true, d_initial: 0.05 });
    const { vera } = layer('p');
    expect(Array.from(vera.lambdaB.dataSync())).toEqual([0, 0, 0, 0, 0]);
    expect(Array.from(vera.lambdaD.dataSync())).toEqual(new Array(4).fill(Math.fround(0.05)));
    peft.dispose();
  });

  it('computes h = W0 x + b + Λ_b B_s Λ_d A_s x on each layer with its own slices', () => {
    const { peft, layer, A, B } = setup();
    for (const [path, out, inF] of [
      ['p', 5, 7],
      ['q', 3, 9],
    ] as const) {
      const { wrapper, vera } = layer(path);
      const delta = referenceDelta(
        A,
        B,
        9,
        4,
        vera.lambdaB.dataSync() as Float32Array,
        vera.lambdaD.dataSync() as Float32Array,
        out,
        inF,
      );
      const x = tf.tensor3d(
        Array.from({ length: 2 * 3 * inF }, (_, i) => Math.cos(i * 0.3)),
        [2, 3, inF],
      );
      const base = wrapper.baseLayer.forward(x);
      const y = wrapper.forward(x);
      expect(y.shape).toEqual([2, 3, out]);
      const xs = x.dataSync();
      const bs = base.dataSync();
      const ys = y.dataSync();
      for (let row = 0; row < 6; row++) {
        for (let o = 0; o < out; o++) {
          let expected = bs[row * out + o]!;
          for (let i = 0; i < inF; i++) expected += delta[o]![i]! * xs[row * inF + i]!;
          expect(ys[row * out + o]).toBeCloseTo(expected, 5);
        }
      }
      const dw = vera.deltaWeight();
      expect(dw.shape).toEqual([out, inF]);
      const dws = dw.dataSync();
      for (const [k, v] of delta.flat().entries()) expect(dws[k]).toBeCloseTo(v, 6);
      tf.dispose([x, base, y, dw]);
    }
    peft.dispose();
  });

  it('applies dropout to the adapter input only, and only in train mode', () => {
    const { model, peft, layer } = setup({ vera_dropout: 0.5 });
    const { wrapper, vera } = layer('p');
    const x = tf.ones([4, 7]);
    const base = Array.from(wrapper.baseLayer.forward(x).dataSync());
    const evalOut = Array.from(wrapper.forward(x).dataSync());
    expect(Array.from(wrapper.forward(x).dataSync())).toEqual(evalOut);
    peft.train();
    const trainOut = Array.from(wrapper.forward(x).dataSync());
    expect(trainOut).not.toEqual(evalOut);
    // With λ_b = 0 the adapter branch is zero whatever dropout does: the base output is untouched.
    const zeros = tf.zerosLike(vera.lambdaB);
    vera.lambdaB.assign(zeros);
    expect(Array.from(wrapper.forward(x).dataSync())).toEqual(base);
    tf.dispose([x, zeros]);
    void model;
    peft.dispose();
  });

  it('draws dropout masks (and random init) from the seeded adapter stream: the same seed repeats a run', () => {
    const trainOutputs = (seed: number) => {
      seedAdapterRandom(seed);
      const { peft, layer } = setup({ vera_dropout: 0.5 });
      const { wrapper, vera } = layer('p');
      peft.train();
      const x = tf.ones([4, 7]);
      const out = [
        Array.from(vera.lambdaD.dataSync()),
        ...[0, 1].map(() => tf.tidy(() => Array.from(wrapper.forward(x).dataSync()))),
      ];
      x.dispose();
      peft.dispose();
      return out;
    };
    try {
      const first = trainOutputs(11);
      expect(trainOutputs(11)).toEqual(first);
      expect(first[1]).not.toEqual(first[2]);
      expect(trainOutputs(12)).not.toEqual(first);
    } finally {
      restoreAdapterRandom(null);
    }
  });
});

describe('VeRA projection slices', () => {
  it('are made once per width and shared, kept no longer than the projections, and saved by no gradient', () => {
    const before = tf.memory().numTensors;
    const { model, peft } = setup();
    const shared = (peft.sharedState('default') as VeraSharedState).projections;
    const variable = (shape: number[], seed: number) => {
      const init = tf.randomNormal(shape, 0, 1, 'float32', seed);
      const v = tf.variable(init);
      init.dispose();
      return v;
    };
    const x = variable([2, 7], 1);
    const y = variable([2, 9], 2);
    const step = () => {
      const { value, grads } = tf.variableGrads(
        () =>
          tf.add(
            tf.sum((model.child('p') as Module & { forward(t: tf.Tensor): tf.Tensor }).forward(x)),
            tf.sum((model.child('q') as Module & { forward(t: tf.Tensor): tf.Tensor }).forward(y)),
          ) as tf.Scalar,
        [x, y],
      );
      tf.dispose([value, ...Object.values(grads)]);
    };
    step();
    // p (out 5, in 7) needs A cut to 7 columns; q (out 3, in 9) needs B cut to 3 rows; the full widths need no
    // slice. The backward pass reads the transposes (A_s [r, in], B_s [out, r]) of every width, made once.
    expect([...shared.slices.keys()].sort()).toEqual(['A:7', 'A:9', 'B:3', 'B:5', 'a:7', 'b:3']);
    const held = tf.memory().numTensors;
    step();
    step();
    expect(tf.memory().numTensors).toBe(held);
    tf.dispose([x, y]);
    peft.dispose();
    expect(shared.slices.size).toBe(0);
    expect(tf.memory().numTensors).toBe(before);
  });
});
