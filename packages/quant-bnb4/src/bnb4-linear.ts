import { type Bnb4Weights, bnb4Dequantize, bnb4Linear, disposeBnb4Weights } from '@peft/backends';
import {
  applyToLastAxis,
  type DType,
  fromFloat32,
  type HostTensor,
  type QuantizedLinear,
  ShapeMismatchError,
  type StateDict,
  toFloat32,
} from '@peft/core';
import * as tf from '@tensorflow/tfjs-core';
import { HOST_DTYPE_OF } from './dequantize.js';
import { Bnb4FormatError } from './errors.js';
import { checkQuantStateValues } from './quant-state-values.js';
import { type Bnb4QuantizeOptions, quantize4bit } from './quantize.js';
import { bnb4StateDict } from './state-dict.js';
import { dequantizationCode } from './tables.js';
import type { Bnb4DType, Bnb4QuantType, Bnb4Tensor } from './types.js';
import { BNB4_NESTED_BLOCKSIZES, blockCount, NESTED_BLOCKSIZE } from './types.js';
import { bytesToWords, wordsToBytes } from './words.js';

/** A bias as a layer accepts it; a host tensor also fixes the dtype `stateDict` writes it back in. */
export type Bnb4Bias = tf.Tensor1D | HostTensor | Float32Array | null;

export interface Bnb4LinearOptions {
  /** Name used in error messages (e.g. the layer path). */
  name?: string;
}

/** Quantizer options (`shape` is needed only for a Float32Array weight) plus the layer's bias. */
export type Bnb4LinearQuantizeOptions = Bnb4QuantizeOptions & Bnb4LinearOptions & { bias?: Bnb4Bias };

/**
 * A bitsandbytes 4-bit linear layer (`Linear4bit`) behind the `QuantizedLinear` contract.
 *
 * Its shape is the LOGICAL one from the quantization state, never the packed storage's: a 4096x4096
 * NF4 weight is 8,388,608 packed bytes, and `inFeatures`/`outFeatures` still say 4096. The weight
 * stays packed in memory (4-bit nibbles eight per int32 word, 8-bit absmax codes four per word);
 * forward and its input gradient run on the fused kernels of @peft/backends, which never keep a dense W.
 */
export class Bnb4Linear implements QuantizedLinear {
  readonly specificationVersion = 'v1' as const;
  readonly scheme: `bnb4-${Bnb4QuantType}`;
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly bias: tf.Tensor1D | null;
  readonly quantType: Bnb4QuantType;
  readonly blocksize: number;
  readonly doubleQuant: boolean;
  /** The weight dtype recorded in the quantization state (what dequantizing in Python returns). */
  readonly dtype: Bnb4DType;
  private readonly weights: Bnb4Weights;
  private readonly packedBytes: number;
  private readonly storage: DType;
  private readonly biasDType: DType;
  private readonly name: string;
  /** `weight.quant_map` as stored; the kernels get dequantizationCode's table (FP4 code 8 as -0.0). */
  private readonly quantMap: Float32Array;

  private constructor(tensor: Bnb4Tensor, bias: Bnb4Bias, options: Bnb4LinearOptions) {
    const { state } = tensor;
    this.name = options.name ?? 'Bnb4Linear';
    if (state.shape.length !== 2) {
      throw new Bnb4FormatError(
        this.name,
        'weight',
        `a linear weight needs a 2-D logical shape, got ${JSON.stringify(state.shape)}`,
      );
    }
    const [out, inF] = state.shape as [number, number];
    const blocks = blockCount(state);
    this.outFeatures = out;
    this.inFeatures = inF;
    this.quantType = state.quantType;
    this.scheme = `bnb4-${state.quantType}`;
    this.blocksize = state.blocksize;
    this.doubleQuant = state.nested !== null;
    this.dtype = state.dtype;
    this.storage = tensor.storage;
    this.packedBytes = Math.ceil((out * inF) / 2);
    if (tensor.packed.length !== this.packedBytes) {
      throw new Bnb4FormatError(
        this.name,
        'weight',
        `${tensor.packed.length} packed bytes for a [${out}, ${inF}] weight; expected ${this.packedBytes}`,
      );
    }
    if (state.code.length !== 16)
      throw new Bnb4FormatError(this.name, 'weight.quant_map', `${state.code.length} entries, expected 16`);

    this.quantMap = state.code.slice();
    const bias1d = this.readBias(bias, out);
    this.biasDType = bias1d.dtype;
    const nested = state.nested;
    if (nested) {
      if (!BNB4_NESTED_BLOCKSIZES.includes(nested.blocksize)) {
        throw new Bnb4FormatError(
          this.name,
          'weight.quant_state',
          `nested blocksize ${nested.blocksize} is not one of ${BNB4_NESTED_BLOCKSIZES.join(', ')}`,
        );
      }
      if (nested.codes.length !== blocks) {
        throw new Bnb4FormatError(
          this.name,
          'weight.absmax',
          `${nested.codes.length} codes for ${blocks} blocks`,
        );
      }
      if (nested.absmax.length !== Math.ceil(blocks / nested.blocksize)) {
        throw new Bnb4FormatError(
          this.name,
          'weight.nested_absmax',
          `${nested.absmax.length} values for ${blocks} blocks in groups of ${nested.blocksize}`,
        );
      }
      if (nested.code.length !== 256) {
        throw new Bnb4FormatError(
          this.name,
          'weight.nested_quant_map',
          `${nested.code.length} entries, expected 256`,
        );
      }
    } else if (state.absmax?.length !== blocks) {
      throw new Bnb4FormatError(
        this.name,
        'weight.absmax',
        `${state.absmax?.length ?? 0} values for ${blocks} blocks`,
      );
    }
    checkQuantStateValues(
      state,
      {
        absmax: 'weight.absmax',
        quantMap: 'weight.quant_map',
        nestedAbsmax: 'weight.nested_absmax',
        nestedQuantMap: 'weight.nested_quant_map',
        quantState: 'weight.quant_state',
      },
      (tensor, detail) => {
        throw new Bnb4FormatError(this.name, tensor, detail);
      },
    );

    this.weights = {
      packed: tf.tensor1d(bytesToWords(tensor.packed), 'int32'),
      absmax: nested
        ? tf.tensor1d(bytesToWords(nested.codes), 'int32')
        : tf.tensor1d(state.absmax!, 'float32'),
      nestedAbsmax: nested ? tf.tensor1d(nested.absmax, 'float32') : null,
      nestedCode: nested ? tf.tensor1d(nested.code, 'float32') : null,
      code: tf.tensor1d(dequantizationCode(state.quantType, state.code), 'float32'),
      outFeatures: out,
      inFeatures: inF,
      blocksize: state.blocksize,
      nestedBlocksize: nested?.blocksize ?? NESTED_BLOCKSIZE,
      offset: nested?.offset ?? 0,
    };
    this.bias = bias1d.values ? tf.tensor1d(bias1d.values, 'float32') : null;
  }

  /** A layer over an already-quantized tensor (e.g. read from a bitsandbytes checkpoint). */
  static fromTensor(tensor: Bnb4Tensor, bias: Bnb4Bias = null, options: Bnb4LinearOptions = {}): Bnb4Linear {
    return new Bnb4Linear(tensor, bias, options);
  }

  /** Quantizes a float weight [out, in] exactly as bitsandbytes would (defaults: NF4, blocksize 64, double quant). */
  static quantize(
    weight: tf.Tensor2D | HostTensor | Float32Array,
    options: Bnb4LinearQuantizeOptions = {},
  ): Bnb4Linear {
    const { bias = null, ...rest } = options;
    let input: Float32Array | HostTensor;
    let shape = options.shape;
    if (weight instanceof tf.Tensor) {
      const data = weight.dataSync();
      input = data instanceof Float32Array ? data : Float32Array.from(data as ArrayLike<number>);
      shape = weight.shape;
    } else {
      input = weight;
    }
    const tensor = quantize4bit(input, { ...rest, ...(shape ? { shape } : {}) });
    return new Bnb4Linear(tensor, bias, { name: options.name ?? 'weight' });
  }

  private readBias(bias: Bnb4Bias, out: number): { values: Float32Array | null; dtype: DType } {
    const fallback = HOST_DTYPE_OF[this.dtype];
    if (bias === null) return { values: null, dtype: fallback };
    let values: Float32Array;
    let dtype = fallback;
    if (bias instanceof tf.Tensor) values = bias.dataSync() as Float32Array;
    else if (bias instanceof Float32Array) values = bias;
    else {
      values = toFloat32(bias);
      dtype = bias.dtype;
    }
    if (values.length !== out) {
      throw new ShapeMismatchError(
        `${this.name}: bias has ${values.length} entries for ${out} output features`,
      );
    }
    return { values: values.slice(), dtype };
  }

  /** Bytes held for the weight and its statistics: packed words, absmax (or codes + nested scales), code tables. */
  get storageBytes(): number {
    const w = this.weights;
    const tensors = [w.packed, w.absmax, w.code, w.nestedAbsmax, w.nestedCode];
    return tensors.reduce((sum, t) => sum + (t ? t.size * 4 : 0), 0);
  }

  forward(x: tf.Tensor): tf.Tensor {
    return applyToLastAxis(x, this.inFeatures, (x2d) => {
      const y = bnb4Linear(x2d, this.weights);
      return this.bias ? (tf.add(y, this.bias) as tf.Tensor2D) : y;
    });
  }

  /** W as float32 [out, in]: `code[q] * absmax` before any rounding to the state's dtype. */
  dequantize(): tf.Tensor2D {
    return bnb4Dequantize(this.weights);
  }

  /** A new layer holding `w` quantized with the same quant type, blocksize, nesting and dtype; the bias is kept. */
  requantize(w: tf.Tensor2D): Bnb4Linear {
    if (w.shape[0] !== this.outFeatures || w.shape[1] !== this.inFeatures) {
      throw new ShapeMismatchError(
        `${this.name}.requantize: expected [${this.outFeatures}, ${this.inFeatures}], got ${JSON.stringify(w.shape)}`,
      );
    }
    // A merged weight lives in the layer's dtype in Python before bitsandbytes quantizes it again.
    const host = fromFloat32(w.dataSync() as Float32Array, w.shape, HOST_DTYPE_OF[this.dtype]);
    const tensor = quantize4bit(host, {
      quantType: this.quantType,
      blocksize: this.blocksize,
      doubleQuant: this.doubleQuant,
      name: this.name,
    });
    const bias = this.bias
      ? fromFloat32(this.bias.dataSync() as Float32Array, [this.outFeatures], this.biasDType)
      : null;
    return new Bnb4Linear({ ...tensor, storage: this.storage }, bias, { name: this.name });
  }

  /** The packed tensor and its quantization state, copied back from the layer's tensors. */
  toTensor(): Bnb4Tensor {
    const w = this.weights;
    const blocks = Math.ceil((this.outFeatures * this.inFeatures) / this.blocksize);
    const packed = wordsToBytes(w.packed.dataSync() as Int32Array, this.packedBytes);
    const code = this.quantMap.slice();
    const shape = [this.outFeatures, this.inFeatures];
    const base = { quantType: this.quantType, blocksize: this.blocksize, dtype: this.dtype, shape, code };
    if (w.nestedAbsmax && w.nestedCode) {
      const nested = {
        codes: wordsToBytes(w.absmax.dataSync() as Int32Array, blocks),
        absmax: (w.nestedAbsmax.dataSync() as Float32Array).slice(),
        code: (w.nestedCode.dataSync() as Float32Array).slice(),
        blocksize: w.nestedBlocksize,
        offset: w.offset,
      };
      return { packed, storage: this.storage, state: { ...base, absmax: null, nested } };
    }
    const absmax = (w.absmax.dataSync() as Float32Array).slice();
    return { packed, storage: this.storage, state: { ...base, absmax, nested: null } };
  }

  /** The bitsandbytes `Linear4bit` state-dict entries under `prefix`, byte-identical to what Python writes. */
  stateDict(prefix: string): StateDict {
    const bias = this.bias
      ? fromFloat32(this.bias.dataSync() as Float32Array, [this.outFeatures], this.biasDType)
      : null;
    return bnb4StateDict(this.toTensor(), prefix, bias);
  }

  dispose(): void {
    disposeBnb4Weights(this.weights); // also frees the kernel threads' copy of the weight, if any
    this.bias?.dispose();
  }
}
