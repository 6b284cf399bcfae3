// A quantizer plug-in no part of the app knows ("int8-rows": per-row absmax int8 codes), loaded with
// `peft --plugin <this file>`: it registers a quantizer and the linear format that reads what it writes.
import {
  applyToLastAxis,
  fromFloat32,
  hostTensor,
  type LinearFormat,
  type OptionSpec,
  type QuantizedLinear,
  type Quantizer,
  registerLinearFormat,
  registerQuantizer,
  resolveOptionValues,
  type StateDict,
  toFloat32,
} from '@peft/core';
import * as tf from '@tensorflow/tfjs-core';

class Int8RowsLinear implements QuantizedLinear {
  readonly specificationVersion = 'v1' as const;
  readonly scheme = 'int8-rows';
  readonly bias = null;

  constructor(
    readonly outFeatures: number,
    readonly inFeatures: number,
    private readonly codes: Int8Array,
    private readonly scales: Float32Array,
  ) {}

  get storageBytes(): number {
    return this.codes.length + this.scales.length * 4;
  }

  forward(x: tf.Tensor): tf.Tensor {
    return applyToLastAxis(x, this.inFeatures, (x2d) =>
      tf.tidy(() => tf.matMul(x2d, this.dequantize(), false, true) as tf.Tensor2D),
    );
  }

  dequantize(): tf.Tensor2D {
    const values = Float32Array.from(this.codes, (c, i) => c * this.scales[Math.floor(i / this.inFeatures)]!);
    return tf.tensor2d(values, [this.outFeatures, this.inFeatures]);
  }

  requantize(): QuantizedLinear {
    throw new Error('int8-rows: requantize is not part of this test plug-in');
  }

  stateDict(prefix: string): StateDict {
    return new Map([
      [
        `${prefix}weight`,
        hostTensor('I8', [this.outFeatures, this.inFeatures], new Uint8Array(this.codes.buffer)),
      ],
      [`${prefix}weight.row_scale`, fromFloat32(this.scales, [this.outFeatures])],
    ]);
  }

  dispose(): void {}
}

const OPTIONS: readonly OptionSpec[] = [
  { name: 'levels', type: 'int', description: 'largest code magnitude', default: 127, min: 1, max: 127 },
];

const quantizer: Quantizer = {
  specificationVersion: 'v1',
  name: 'int8-rows',
  packageName: 'int8-rows-test-plugin',
  description: 'per-row absmax int8 (test plug-in)',
  options: OPTIONS,
  resolveOptions: (input) => resolveOptionValues(OPTIONS, input, 'quantizer "int8-rows"'),
  storageBytes: (out, inFeatures) => ({
    disk: out * inFeatures + out * 4,
    memory: out * inFeatures + out * 4,
  }),
  quantize(layer, options) {
    const levels = options['levels'] as number;
    const w = layer.dequantize();
    const values = w.dataSync() as Float32Array;
    w.dispose();
    const { outFeatures: out, inFeatures } = layer;
    const codes = new Int8Array(values.length);
    const scales = new Float32Array(out);
    for (let r = 0; r < out; r++) {
      const row = values.subarray(r * inFeatures, (r + 1) * inFeatures);
      const absmax = row.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      scales[r] = absmax / levels;
      row.forEach((v, c) => {
        codes[r * inFeatures + c] = absmax === 0 ? 0 : Math.round((v / absmax) * levels);
      });
    }
    return new Int8RowsLinear(out, inFeatures, codes, scales);
  },
  quantizationConfig: (options) => ({ quant_method: 'int8-rows', levels: options['levels'] }),
};

const format: LinearFormat = {
  specificationVersion: 'v1',
  name: 'int8-rows',
  detect: (source, prefix) => source.has(`${prefix}weight.row_scale`),
  async read(source, prefix) {
    const weight = await source.get(`${prefix}weight`);
    const [out, inFeatures] = weight.shape as [number, number];
    const codes = new Int8Array(weight.data.slice().buffer);
    return new Int8RowsLinear(
      out,
      inFeatures,
      codes,
      toFloat32(await source.get(`${prefix}weight.row_scale`)),
    );
  },
};

registerQuantizer(quantizer);
registerLinearFormat(format);
