import { kernelThreadStats, setupBackend } from '@peft/backends';
import {
  bitsPerParameter,
  DenseLinear,
  fromFloat32,
  loadLinear,
  registeredLinearFormats,
  stateDictSource,
} from '@peft/core';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  Bnb4FormatError,
  Bnb4Linear,
  bnb4StateDict,
  dequantize4bitFloat32,
  effectiveAbsmax,
  quantize4bit,
} from './index.js';
import { f32FromB64, goldenCases, mismatches } from './test-support/golden.js';
import { useBackend, withExactBnb4 } from './test-support/tf.js';
import type { Bnb4Tensor } from './types.js';

const golden = (name: string) => goldenCases().find((c) => c.name === name)!;

function goldenTensor(name: string): Bnb4Tensor {
  const g = golden(name);
  return quantize4bit(f32FromB64(g.input.f32_le_b64), {
    quantType: g.params.quant_type,
    blocksize: g.params.blocksize,
    doubleQuant: g.params.compress_statistics,
    shape: g.params.shape,
    dtype: g.params.dtype,
  });
}

function pseudoRandom(n: number, seed: number, scale = 1): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return (s / 2 ** 31 - 1) * scale;
  });
}

/** A structurally valid NF4 + double-quant tensor of any logical shape, without running the quantizer. */
function syntheticNested(out: number, inF: number): Bnb4Tensor {
  const n = out * inF;
  const blocks = Math.ceil(n / 64);
  const packed = new Uint8Array(Math.ceil(n / 2));
  for (let i = 0; i < packed.length; i += 4099) packed[i] = 0xf0 | (i & 15);
  return {
    packed,
    storage: 'U8',
    state: {
      quantType: 'nf4',
      blocksize: 64,
      dtype: 'float16',
      shape: [out, inF],
      code: quantize4bit(new Float32Array(2), { doubleQuant: false }).state.code,
      absmax: null,
      nested: {
        codes: new Uint8Array(blocks).fill(200),
        absmax: new Float32Array(Math.ceil(blocks / 256)).fill(0.01),
        code: quantize4bit(new Float32Array(64 * 2)).state.nested!.code,
        blocksize: 256,
        offset: 0.02,
      },
    },
  };
}

/** Σ_k |a_mk · b_nk| per output, the scale of float32 summation error. */
function absSums(a: Float32Array, rows: number, b: Float32Array, cols: number, K: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let m = 0; m < rows; m++) {
    for (let n = 0; n < cols; n++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += Math.abs(a[m * K + k]! * b[n * K + k]!);
      out[m * cols + n] = s;
    }
  }
  return out;
}

function expectClose(actual: Float32Array, expected: Float32Array, tolerance: Float32Array | number): void {
  const bad: string[] = [];
  for (let i = 0; i < expected.length; i++) {
    const tol = typeof tolerance === 'number' ? tolerance : tolerance[i]! + 1e-7;
    if (!(Math.abs(actual[i]! - expected[i]!) <= tol))
      bad.push(`[${i}] ${actual[i]} vs ${expected[i]} (tol ${tol})`);
  }
  expect(bad.slice(0, 5)).toEqual([]);
}

describe('Bnb4Linear shape and storage (backend independent)', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });

  it.each([
    [4096, 4096, 8388608],
    [11008, 4096, 22544384],
  ])('a %ix%i NF4+DQ layer reports its logical shape, not the packed (%i, 1)', (out, inF, packedRows) => {
    const layer = Bnb4Linear.fromTensor(syntheticNested(out, inF));
    try {
      expect([layer.outFeatures, layer.inFeatures]).toEqual([out, inF]);
      expect(layer.scheme).toBe('bnb4-nf4');
      const weight = layer.stateDict('model.layers.0.mlp.up_proj.').get('model.layers.0.mlp.up_proj.weight')!;
      expect(weight.shape).toEqual([packedRows, 1]);
      // 4 bits + 8/64 for the codes + 32/(64*256) for the nested scales, plus the two code tables.
      expect(bitsPerParameter(layer)).toBeCloseTo(4.127, 3);
    } finally {
      layer.dispose();
    }
  });

  it('holds packed nibbles 8 per int32 word and u8 codes 4 per word', () => {
    const t = goldenTensor('nf4_bs64_dq_260x64'); // 16640 weights, 260 blocks, 2 nested groups
    const layer = Bnb4Linear.fromTensor(t);
    try {
      const expected = (16640 / 8) * 4 + Math.ceil(260 / 4) * 4 + 2 * 4 + 16 * 4 + 256 * 4;
      expect(layer.storageBytes).toBe(expected);
    } finally {
      layer.dispose();
    }
  });

  it('rejects inconsistent tensors with an error naming the tensor', () => {
    const t = goldenTensor('nf4_bs64_4x64');
    expect(() => Bnb4Linear.fromTensor({ ...t, packed: t.packed.subarray(1) })).toThrow(Bnb4FormatError);
    expect(() =>
      Bnb4Linear.fromTensor({ ...t, state: { ...t.state, absmax: t.state.absmax!.subarray(1) } }),
    ).toThrow(/weight\.absmax/);
    expect(() => Bnb4Linear.fromTensor({ ...t, state: { ...t.state, shape: [256] } })).toThrow(
      /2-D logical shape/,
    );
    expect(() => Bnb4Linear.fromTensor(t, new Float32Array(3))).toThrow(/bias has 3 entries for 4/);
  });
});

describe.each(['cpu', 'wasm'] as const)('Bnb4Linear on the %s backend', (backend) => {
  beforeAll(async () => {
    await useBackend(backend);
  });
  afterEach(() => {
    expect(tf.getBackend()).toBe(backend);
  });

  it.each(['nf4_bs64_dq_260x64', 'fp4_bs128_3x129_odd', 'nf4_fp16_dq_6x64'])(
    'dequantize() equals the TypeScript dequantization of %s exactly',
    (name) => {
      const t = goldenTensor(name);
      const layer = Bnb4Linear.fromTensor(t);
      const w = layer.dequantize();
      try {
        expect(w.shape).toEqual(t.state.shape);
        expect(mismatches(w.dataSync() as Float32Array, dequantize4bitFloat32(t))).toEqual([]);
      } finally {
        w.dispose();
        layer.dispose();
      }
    },
  );

  const check = async (
    exact: boolean,
    options: { quantType: 'nf4' | 'fp4'; blocksize: number; doubleQuant: boolean },
  ) => {
    const values = pseudoRandom(128 * 256, 7, 0.3);
    const layer = Bnb4Linear.quantize(values, { ...options, shape: [128, 256], bias: pseudoRandom(128, 3) });
    const x = tf.tensor3d(pseudoRandom(2 * 3 * 256, 11), [2, 3, 256]);
    const dy = tf.tensor3d(pseudoRandom(2 * 3 * 128, 13), [2, 3, 128]);
    const before = tf.memory().numTensors;
    try {
      const run = () => {
        const y = layer.forward(x);
        const dx = tf.grad((input: tf.Tensor) => tf.sum(tf.mul(layer.forward(input), dy)))(x);
        return { y, dx };
      };
      const { y, dx } = exact ? await withExactBnb4(run) : run();
      const w = layer.dequantize();
      const wData = w.dataSync() as Float32Array;
      const expectedY = tf.tidy(() =>
        tf.add(tf.matMul(tf.reshape(x, [6, 256]), w, false, true), layer.bias!),
      );
      const expectedDx = tf.tidy(() => tf.matMul(tf.reshape(dy, [6, 128]), w));
      expect(y.shape).toEqual([2, 3, 128]);
      expect(dx.shape).toEqual([2, 3, 256]);

      const xData = x.dataSync() as Float32Array;
      const dyData = dy.dataSync() as Float32Array;
      const wT = tf.tidy(() => tf.transpose(w).dataSync() as Float32Array);
      const sumTol = absSums(xData, 6, wData, 128, 256).map((s) => 4e-6 * s);
      let yTol = sumTol;
      if (!exact && backend === 'wasm') {
        // The default wasm forward rounds activations to 16-bit fixed point per 64-group and codes to 1/16384.
        const absmax = effectiveAbsmax(layer.toTensor().state);
        const groupMax = Array.from({ length: 6 * 4 }, (_, g) =>
          Math.max(...Array.from(xData.subarray(g * 64, g * 64 + 64), Math.abs)),
        );
        yTol = sumTol.map((s, i) => {
          const m = Math.floor(i / 128);
          const n = i % 128;
          let bound = 0;
          for (let k = 0; k < 256; k++) {
            bound +=
              (Math.abs(xData[m * 256 + k]!) * absmax[Math.floor((n * 256 + k) / options.blocksize)]!) /
              16384;
            bound += (groupMax[m * 4 + (k >> 6)]! / 32766) * Math.abs(wData[n * 256 + k]!);
          }
          return s + bound;
        });
      }
      let dxTol = absSums(dyData, 6, wT, 256, 128).map((s) => 4e-6 * s);
      if (!exact && backend === 'wasm') {
        // The default wasm dy·W rounds s = dy * A to 16-bit fixed point per 16 rows of W (same 64-column group)
        // and codes (max |code| = 1) to 1/16384.
        const absmax = effectiveAbsmax(layer.toTensor().state);
        const a = (n: number, k: number) => Math.abs(absmax[Math.floor((n * 256 + k) / options.blocksize)]!);
        dxTol = dxTol.map((s, i) => {
          const m = Math.floor(i / 256);
          const k = i % 256;
          let bound = 0;
          for (let n0 = 0; n0 < 128; n0 += 16) {
            let chunkMax = 0;
            for (let n = n0; n < n0 + 16; n++)
              chunkMax = Math.max(chunkMax, Math.abs(dyData[m * 128 + n]! * a(n, k)));
            for (let n = n0; n < n0 + 16; n++) {
              const code = a(n, k) > 0 ? Math.abs(wData[n * 256 + k]!) / a(n, k) : 1;
              bound +=
                (chunkMax / 32766) * (code + 1 / 16384) + (Math.abs(dyData[m * 128 + n]!) * a(n, k)) / 16384;
            }
          }
          return s + bound;
        });
      }
      expectClose(y.dataSync() as Float32Array, expectedY.dataSync() as Float32Array, yTol);
      expectClose(dx.dataSync() as Float32Array, expectedDx.dataSync() as Float32Array, dxTol);
      tf.dispose([y, dx, w, expectedY, expectedDx]);
      expect(tf.memory().numTensors).toBe(before);
    } finally {
      tf.dispose([x, dy]);
      layer.dispose();
    }
  };

  const layouts = [
    { quantType: 'nf4', blocksize: 64, doubleQuant: true },
    { quantType: 'fp4', blocksize: 128, doubleQuant: false },
  ] as const;

  it.each(layouts)(
    'forward (any leading dims, with bias) and its input gradient agree with dequantize + tf.matMul: $quantType, blocksize $blocksize, nested $doubleQuant',
    async (options) => {
      await check(false, options);
    },
  );

  if (backend === 'wasm') {
    it.each(layouts)('also on the exact float32 wasm path: $quantType', async (options) => {
      await check(true, options);
    });
  }

  it('does not grow tf.memory() across forward/backward steps and keeps no dense W', () => {
    const layer = Bnb4Linear.fromTensor(goldenTensor('nf4_bs64_dq_260x64'));
    const x = tf.tensor2d(pseudoRandom(4 * 64, 5), [4, 64]);
    const grad = tf.grad((input: tf.Tensor) => tf.sum(layer.forward(input)));
    try {
      tf.dispose(grad(x));
      const before = tf.memory().numTensors;
      for (let step = 0; step < 3; step++) tf.dispose(grad(x));
      expect(tf.memory().numTensors).toBe(before);
    } finally {
      x.dispose();
      layer.dispose();
    }
  });
});

describe('Bnb4Linear on wasm kernel threads', () => {
  afterAll(() => setupBackend('wasm', { kernelThreads: 1 }));

  it('gives the single-thread forward bit for bit, and dispose() frees the threads copy of its weight', async () => {
    const weight = pseudoRandom(1024 * 2048, 11);
    const x = tf.tensor2d(pseudoRandom(2048, 12), [1, 2048]);
    await setupBackend('wasm', { kernelThreads: 1 });
    const layer = Bnb4Linear.fromTensor(quantize4bit(weight, { shape: [1024, 2048] }));
    try {
      const single = Array.from(tf.tidy(() => layer.forward(x)).dataSync());
      await setupBackend('wasm', { kernelThreads: 2 });
      const y = layer.forward(x);
      expect(Array.from(y.dataSync())).toEqual(single);
      y.dispose();
      expect(kernelThreadStats().mirroredBytes).toBeGreaterThan(0);
    } finally {
      layer.dispose();
      x.dispose();
    }
    expect(kernelThreadStats().mirroredBytes).toBe(0);
  });
});

describe('Bnb4Linear state dict, requantize and loading', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });

  it.each(
    goldenCases()
      .filter((c) => c.params.shape.length === 2)
      .map((c) => c.name),
  )('stateDict of %s is the golden bitsandbytes state dict, byte for byte', (name) => {
    const t = goldenTensor(name);
    const bias = fromFloat32(pseudoRandom(t.state.shape[0]!, 1), [t.state.shape[0]!], 'F16');
    const layer = Bnb4Linear.fromTensor(t, bias);
    try {
      const ours = layer.stateDict('layer.');
      const reference = bnb4StateDict(t, 'layer.', bias);
      expect([...ours.keys()]).toEqual([...reference.keys()]);
      for (const [key, value] of reference) {
        expect({ key, dtype: ours.get(key)!.dtype, shape: ours.get(key)!.shape }).toEqual({
          key,
          dtype: value.dtype,
          shape: value.shape,
        });
        expect(Buffer.from(ours.get(key)!.data).equals(Buffer.from(value.data))).toBe(true);
      }
      expect(Buffer.from(reference.get('layer.weight')!.data).toString('base64')).toBe(
        golden(name).expected.packed_b64,
      );
    } finally {
      layer.dispose();
    }
  });

  it('requantize keeps quant type, blocksize, nesting, dtype and bias; re-quantizing the dequantized weight is lossless', () => {
    // NF4: every level re-encodes to itself. (FP4 would too, except that code 8, -0.0, comes back as code 0.)
    const t = goldenTensor('nf4_bs128_3x50_partial');
    const layer = Bnb4Linear.fromTensor(t, new Float32Array([1, 2, 3]));
    const w = layer.dequantize();
    const again = layer.requantize(w);
    try {
      expect([again.scheme, again.blocksize, again.doubleQuant, again.dtype]).toEqual([
        'bnb4-nf4',
        128,
        false,
        'float32',
      ]);
      expect(Array.from(again.bias!.dataSync())).toEqual([1, 2, 3]);
      expect(Buffer.from(again.toTensor().packed).equals(Buffer.from(t.packed))).toBe(true);
      expect(again.toTensor().state.absmax).toEqual(t.state.absmax);
      expect(() => layer.requantize(tf.zeros([3, 49]) as tf.Tensor2D)).toThrow(/expected \[3, 50\]/);
    } finally {
      tf.dispose([w]);
      layer.dispose();
      again.dispose();
    }
  });

  it('quantize() takes a tf.Tensor2D, a HostTensor or a Float32Array and quantizes as quantize4bit does', () => {
    const values = pseudoRandom(24 * 64, 23);
    const reference = quantize4bit(values, { shape: [24, 64], quantType: 'fp4', doubleQuant: false });
    const fromTensor = tf.tensor2d(values, [24, 64]);
    const layers = [
      Bnb4Linear.quantize(fromTensor, { quantType: 'fp4', doubleQuant: false }),
      Bnb4Linear.quantize(fromFloat32(values, [24, 64]), { quantType: 'fp4', doubleQuant: false }),
      Bnb4Linear.quantize(values, { shape: [24, 64], quantType: 'fp4', doubleQuant: false }),
    ];
    try {
      for (const layer of layers) {
        expect([layer.outFeatures, layer.inFeatures, layer.scheme]).toEqual([24, 64, 'bnb4-fp4']);
        expect(Buffer.from(layer.toTensor().packed).equals(Buffer.from(reference.packed))).toBe(true);
      }
    } finally {
      fromTensor.dispose();
      for (const layer of layers) layer.dispose();
    }
  });

  it('requantize rounds a merged weight to the layer dtype first, as Python holds it', () => {
    const t = goldenTensor('nf4_fp16_dq_6x64');
    const layer = Bnb4Linear.fromTensor(t);
    const merged = tf.tensor2d(pseudoRandom(6 * 64, 17), [6, 64]);
    const again = layer.requantize(merged);
    try {
      const viaF16 = quantize4bit(fromFloat32(merged.dataSync() as Float32Array, [6, 64], 'F16'));
      expect(Buffer.from(again.toTensor().packed).equals(Buffer.from(viaF16.packed))).toBe(true);
      expect(again.toTensor().state).toEqual(viaF16.state);
    } finally {
      tf.dispose(merged);
      layer.dispose();
      again.dispose();
    }
  });

  it('importing the package registers the bnb4 format: loadLinear reads 4-bit layers as Bnb4Linear', async () => {
    expect(registeredLinearFormats()).toContain('bnb4');
    const q = goldenTensor('nf4_fp16_dq_6x64');
    const dict = bnb4StateDict(
      q,
      'model.layers.0.self_attn.q_proj.',
      fromFloat32(new Float32Array(6).fill(0.5), [6], 'F16'),
    );
    dict.set('model.layers.0.self_attn.k_proj.weight', fromFloat32(pseudoRandom(6 * 64, 2), [6, 64], 'F16'));
    const source = stateDictSource(dict, 'model.safetensors');
    const quantized = await loadLinear(source, 'model.layers.0.self_attn.q_proj.');
    const dense = await loadLinear(source, 'model.layers.0.self_attn.k_proj.');
    try {
      expect(quantized).toBeInstanceOf(Bnb4Linear);
      expect([quantized.inFeatures, quantized.outFeatures, quantized.scheme]).toEqual([64, 6, 'bnb4-nf4']);
      expect(Array.from(quantized.bias!.dataSync())).toEqual(new Array(6).fill(0.5));
      expect(dense).toBeInstanceOf(DenseLinear);
      // Writing the loaded layer back gives the checkpoint's bytes.
      const back = quantized.stateDict('model.layers.0.self_attn.q_proj.');
      for (const [key, value] of back)
        expect(Buffer.from(value.data).equals(Buffer.from(dict.get(key)!.data))).toBe(true);
    } finally {
      quantized.dispose();
      dense.dispose();
    }
  });

  it('a malformed 4-bit layer fails loadLinear with an error naming the tensor', async () => {
    const dict = bnb4StateDict(goldenTensor('nf4_bs64_4x64'), 'm.');
    dict.delete('m.weight.quant_map');
    await expect(loadLinear(stateDictSource(dict, 'ckpt'), 'm.')).rejects.toThrow(
      /ckpt: "m\.weight\.quant_map": missing/,
    );
  });
});
