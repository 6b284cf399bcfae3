import {
  DenseLinear,
  fromFloat32,
  getQuantizer,
  Linear,
  Module,
  ModuleList,
  quantizeLinears,
  registeredQuantizers,
  type StateDict,
  toFloat32,
} from '@peft/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  Bnb4Linear,
  bnb4QuantizationConfig,
  bnb4StateDict,
  bnb4StorageBytes,
  fp4Quantizer,
  nf4Quantizer,
  quantize4bit,
} from './index.js';
import { quantizeModule } from './quantize-module.js';
import { useBackend } from './test-support/tf.js';

beforeAll(() => useBackend('cpu'));

const weights = (n: number, seed: number) =>
  Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 7 + i * 0.37));

class Block extends Module {
  constructor(out: number, inF: number, seed: number) {
    super();
    const bias = new Float32Array(out).fill(0.5);
    this.registerModule('proj', new Linear(DenseLinear.fromArray(weights(out * inF, seed), out, inF, bias)));
  }
}

class Tree extends Module {
  constructor() {
    super();
    this.registerModule('layers', new ModuleList([new Block(64, 128, 1), new Block(128, 64, 2)]));
    this.registerModule('lm_head', new Block(32, 64, 3).child('proj'));
  }
}

/** Bytes of the weight's tensors in a state dict, without the bias and the small quant-state JSON entry. */
function savedWeightBytes(dict: StateDict): number {
  let bytes = 0;
  for (const [key, tensor] of dict) {
    if (key.endsWith('bias') || key.includes('.quant_state.bitsandbytes__')) continue;
    bytes += tensor.data.byteLength;
  }
  return bytes;
}

describe('the nf4 and fp4 quantizers', () => {
  it('are registered by importing the package, with blocksize and doubleQuant options', () => {
    expect(getQuantizer('nf4')).toBe(nf4Quantizer);
    expect(getQuantizer('fp4')).toBe(fp4Quantizer);
    expect(registeredQuantizers().map((q) => q.name)).toEqual(expect.arrayContaining(['nf4', 'fp4']));
    expect(nf4Quantizer.packageName).toBe('@peft/quant-bnb4');
    expect(nf4Quantizer.options.map((o) => [o.name, o.default])).toEqual([
      ['blocksize', 64],
      ['doubleQuant', true],
    ]);
  });

  it('resolve options: defaults filled, bad values and unknown keys refused naming them', () => {
    expect(nf4Quantizer.resolveOptions({})).toEqual({ blocksize: 64, doubleQuant: true });
    expect(fp4Quantizer.resolveOptions({ blocksize: 256, doubleQuant: false })).toEqual({
      blocksize: 256,
      doubleQuant: false,
    });
    expect(() => nf4Quantizer.resolveOptions({ blocksize: 100 })).toThrow(
      /option "blocksize" 100 is not valid \(not an allowed value\): expected one of 32, 64, 128/,
    );
    expect(() => nf4Quantizer.resolveOptions({ quantType: 'fp4' })).toThrow(
      'quantizer "nf4" has no option "quantType"; its options are blocksize, doubleQuant',
    );
  });

  it.each([
    [24, 16, 64, true],
    [33, 7, 64, true], // odd element count: a half-filled last byte, padded words
    [300, 257, 64, true], // more than 256 absmax blocks: several nested scales
    [300, 257, 128, false],
    [5, 13, 32, false],
    [130, 1000, 4096, true],
  ])(
    'storageBytes of [%i, %i] blocksize %i double quant %s is what Bnb4Linear holds and saves',
    (out, inF, blocksize, doubleQuant) => {
      const layer = Bnb4Linear.quantize(weights(out * inF, 4), { shape: [out, inF], blocksize, doubleQuant });
      const bytes = nf4Quantizer.storageBytes(
        out,
        inF,
        nf4Quantizer.resolveOptions({ blocksize, doubleQuant }),
      );
      expect(bytes.memory).toBe(layer.storageBytes);
      expect(bytes.disk).toBe(savedWeightBytes(layer.stateDict('model.proj.')));
      layer.dispose();
    },
  );

  it('storageBytes at Llama-2-7B shapes, by hand: packed bytes, 8-bit absmax, nested scales and code tables', () => {
    const options = nf4Quantizer.resolveOptions({});
    const n = 11008 * 4096;
    const blocks = n / 64;
    const expected = n / 2 + blocks + Math.ceil(blocks / 256) * 4 + 256 * 4 + 16 * 4;
    expect(nf4Quantizer.storageBytes(11008, 4096, options)).toEqual({ disk: expected, memory: expected });
    expect(bnb4StorageBytes(4096 * 4096, 64, false).disk).toBe(8388608 + 262144 * 4 + 64);
  });

  it('quantize gives the layer Bnb4Linear.quantize gives, with the bias, and leaves the old one to the caller', () => {
    const w = weights(48 * 40, 5);
    const dense = DenseLinear.fromArray(w, 48, 40, new Float32Array(48).fill(-0.25));
    for (const quantizer of [nf4Quantizer, fp4Quantizer]) {
      const options = quantizer.resolveOptions({ blocksize: 128, doubleQuant: false });
      const q = quantizer.quantize(dense, options, 'model.layers.0.mlp.up_proj');
      const reference = Bnb4Linear.quantize(w, {
        shape: [48, 40],
        quantType: quantizer.name as 'nf4' | 'fp4',
        blocksize: 128,
        doubleQuant: false,
      });
      expect(q.scheme).toBe(`bnb4-${quantizer.name}`);
      const [wq, wr] = [q.dequantize(), reference.dequantize()];
      expect(wq.arraySync()).toEqual(wr.arraySync());
      tf.dispose([wq, wr]);
      expect(Array.from(q.bias!.dataSync())).toEqual(new Array(48).fill(-0.25));
      expect(q.storageBytes).toBe(quantizer.storageBytes(48, 40, options).memory);
      q.dispose();
      reference.dispose();
    }
    // Still usable: quantize does not dispose its input.
    const still = dense.dequantize();
    expect(Array.from(still.dataSync())).toEqual(Array.from(w));
    still.dispose();
    dense.dispose();
  });

  it('a float16 dense layer is quantized as bitsandbytes does a float16 weight: dtype in the quant state, bias kept in F16', () => {
    const w = fromFloat32(weights(6 * 64, 9), [6, 64], 'F16');
    const bias = fromFloat32(
      Float32Array.from({ length: 6 }, (_, i) => i / 3),
      [6],
      'F16',
    );
    const dense = new DenseLinear(tf.tensor2d(toFloat32(w), [6, 64]), tf.tensor1d(toFloat32(bias)), {
      storageDType: 'F16',
    });
    const q = nf4Quantizer.quantize(dense, nf4Quantizer.resolveOptions({}), 'model.layers.0.q_proj');
    const expected = bnb4StateDict(quantize4bit(w, { quantType: 'nf4' }), 'p.', bias);
    const actual = q.stateDict('p.');
    expect([...actual.keys()].sort()).toEqual([...expected.keys()].sort());
    for (const [key, tensor] of expected) {
      expect({
        key,
        dtype: actual.get(key)!.dtype,
        hex: Buffer.from(actual.get(key)!.data).toString('hex'),
      }).toEqual({ key, dtype: tensor.dtype, hex: Buffer.from(tensor.data).toString('hex') });
    }
    expect(new TextDecoder().decode(actual.get('p.weight.quant_state.bitsandbytes__nf4')!.data)).toContain(
      '"dtype": "float16"',
    );
    q.dispose();
    dense.dispose();
  });

  it('names the layer in errors', () => {
    const dense = DenseLinear.fromArray(new Float32Array([1, Number.NaN, 2, 3]), 2, 2);
    expect(() =>
      nf4Quantizer.quantize(dense, nf4Quantizer.resolveOptions({}), 'model.layers.3.q_proj'),
    ).toThrow(/model\.layers\.3\.q_proj\.weight/);
    dense.dispose();
  });

  it('quantizeLinears with nf4 does what quantizeModule does, frees each dense layer and skips lm_head', () => {
    const tensors = tf.memory().numTensors;
    const viaRegistry = new Tree();
    const viaModule = new Tree();
    const paths = quantizeLinears(viaRegistry, getQuantizer('nf4'), {});
    expect(paths).toEqual(['layers.0.proj', 'layers.1.proj']);
    expect(quantizeModule(viaModule)).toEqual(paths);
    for (const path of paths) {
      const a = (viaRegistry.getSubmodule(path) as Linear).layer;
      const b = (viaModule.getSubmodule(path) as Linear).layer;
      expect(a.scheme).toBe('bnb4-nf4');
      const [wa, wb] = [a.dequantize(), b.dequantize()];
      expect(wa.arraySync()).toEqual(wb.arraySync());
      tf.dispose([wa, wb]);
    }
    expect((viaRegistry.getSubmodule('lm_head') as Linear).layer.scheme).toBe('dense');
    viaRegistry.dispose();
    viaModule.dispose();
    // Every dense weight was freed when its layer was replaced; nothing is left once the trees are gone.
    expect(tf.memory().numTensors).toBe(tensors);
  });

  it('quantizationConfig is the quantization_config the quantize command writes', () => {
    const options = nf4Quantizer.resolveOptions({});
    expect(nf4Quantizer.quantizationConfig(options)).toEqual({
      _load_in_4bit: true,
      _load_in_8bit: false,
      bnb_4bit_compute_dtype: 'float32',
      bnb_4bit_quant_storage: 'uint8',
      bnb_4bit_quant_type: 'nf4',
      bnb_4bit_use_double_quant: true,
      llm_int8_enable_fp32_cpu_offload: false,
      llm_int8_has_fp16_weight: false,
      llm_int8_skip_modules: null,
      llm_int8_threshold: 6,
      load_in_4bit: true,
      load_in_8bit: false,
      quant_method: 'bitsandbytes',
    });
    expect(
      fp4Quantizer.quantizationConfig(fp4Quantizer.resolveOptions({ doubleQuant: false }), {
        modelDtype: 'bfloat16',
        skippedModules: ['lm_head', 'model.layers.0.mlp.down_proj'],
      }),
    ).toEqual(
      bnb4QuantizationConfig({
        quantType: 'fp4',
        doubleQuant: false,
        computeDtype: 'bfloat16',
        skipModules: ['lm_head', 'model.layers.0.mlp.down_proj'],
      }),
    );
    // A dtype bitsandbytes does not compute in falls back to float32, as the command does.
    expect(
      nf4Quantizer.quantizationConfig(options, { modelDtype: 'float64' })['bnb_4bit_compute_dtype'],
    ).toBe('float32');
    expect(nf4Quantizer.quantizationConfigFloatFields).toEqual(['llm_int8_threshold']);
  });
});
