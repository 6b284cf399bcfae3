import { bytesPerElement, type DType, DTypeConversionError, numElements } from './dtype.js';
import { ShapeMismatchError } from './errors.js';
import { f16BitsToFloat, floatToBf16Bits, floatToF16Bits } from './half.js';

/**
 * A tensor as it lives in a file: dtype, shape and raw little-endian bytes. This is the unit of
 * state dicts, because formats such as bitsandbytes store dtypes (U8, I64, BF16) that have no
 * TensorFlow.js equivalent and must round-trip byte for byte.
 */
export interface HostTensor {
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly data: Uint8Array;
}

/** An ordered map of tensor names to host tensors (insertion order is file order). */
export type StateDict = Map<string, HostTensor>;

export function hostTensor(
  dtype: DType,
  shape: readonly number[],
  data: Uint8Array,
  name = 'tensor',
): HostTensor {
  const expected = numElements(shape) * bytesPerElement(dtype);
  if (data.byteLength !== expected) {
    throw new ShapeMismatchError(
      `${name}: ${dtype}${JSON.stringify(shape)} needs ${expected} bytes, got ${data.byteLength}`,
    );
  }
  return { dtype, shape: [...shape], data };
}

function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

let f16Table: Float32Array | undefined;

/** All 65,536 float16 values, built once: a table lookup is far faster than decoding each element. */
function float16Table(): Float32Array {
  if (!f16Table) {
    f16Table = new Float32Array(65536);
    for (let bits = 0; bits < 65536; bits++) f16Table[bits] = f16BitsToFloat(bits);
  }
  return f16Table;
}

/** Little-endian 16-bit words of `count` elements, whatever the alignment of `data`. */
function words16(data: Uint8Array, count: number): Uint16Array {
  const words = new Uint16Array(count);
  for (let i = 0; i < count; i++) words[i] = data[2 * i]! | (data[2 * i + 1]! << 8);
  return words;
}

/**
 * Float32 values of any numeric host tensor. F32 and BF16 keep their exact bits (NaN payloads
 * included); F16 converts exactly; F64 and 64-bit integers round to the nearest float32.
 */
export function toFloat32(tensor: HostTensor): Float32Array {
  const n = numElements(tensor.shape);
  const data = tensor.data;
  switch (tensor.dtype) {
    case 'F32': {
      const bits = new Uint32Array(n);
      for (let i = 0; i < n; i++) {
        const j = 4 * i;
        bits[i] = data[j]! | (data[j + 1]! << 8) | (data[j + 2]! << 16) | (data[j + 3]! << 24);
      }
      return new Float32Array(bits.buffer);
    }
    case 'BF16': {
      const words = words16(data, n);
      const bits = new Uint32Array(n);
      for (let i = 0; i < n; i++) bits[i] = words[i]! << 16;
      return new Float32Array(bits.buffer);
    }
    case 'F16': {
      const table = float16Table();
      const words = words16(data, n);
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = table[words[i]!]!;
      return out;
    }
    default:
      return integerOrF64ToFloat32(tensor, n);
  }
}

function integerOrF64ToFloat32(tensor: HostTensor, n: number): Float32Array {
  const view = viewOf(tensor.data);
  const out = new Float32Array(n);
  switch (tensor.dtype) {
    case 'F64':
      for (let i = 0; i < n; i++) out[i] = view.getFloat64(i * 8, true);
      return out;
    case 'I64':
      for (let i = 0; i < n; i++) out[i] = Number(view.getBigInt64(i * 8, true));
      return out;
    case 'I32':
      for (let i = 0; i < n; i++) out[i] = view.getInt32(i * 4, true);
      return out;
    case 'I16':
      for (let i = 0; i < n; i++) out[i] = view.getInt16(i * 2, true);
      return out;
    case 'I8':
      for (let i = 0; i < n; i++) out[i] = view.getInt8(i);
      return out;
    default:
      for (let i = 0; i < n; i++) out[i] = tensor.data[i]!;
      return out;
  }
}

/** Encode float values into a host tensor of a floating dtype (rounding to nearest even). */
export function fromFloat32(
  values: Float32Array | readonly number[],
  shape: readonly number[],
  dtype: DType = 'F32',
): HostTensor {
  const n = values.length;
  if (n !== numElements(shape)) {
    throw new ShapeMismatchError(`fromFloat32: ${n} values do not fill shape ${JSON.stringify(shape)}`);
  }
  const data = new Uint8Array(n * bytesPerElement(dtype));
  const view = viewOf(data);
  switch (dtype) {
    case 'F32':
      for (let i = 0; i < n; i++) view.setFloat32(i * 4, values[i]!, true);
      break;
    case 'F64':
      for (let i = 0; i < n; i++) view.setFloat64(i * 8, values[i]!, true);
      break;
    case 'F16':
      for (let i = 0; i < n; i++) view.setUint16(i * 2, floatToF16Bits(values[i]!), true);
      break;
    case 'BF16':
      for (let i = 0; i < n; i++) view.setUint16(i * 2, floatToBf16Bits(values[i]!), true);
      break;
    default:
      throw new DTypeConversionError(`fromFloat32: ${dtype} is not a floating dtype`);
  }
  return { dtype, shape: [...shape], data };
}

/** Integer host tensor from numbers (I64 via BigInt), for token ids, codes and the like. */
export function fromIntegers(values: ArrayLike<number>, shape: readonly number[], dtype: DType): HostTensor {
  const n = values.length;
  if (n !== numElements(shape)) {
    throw new ShapeMismatchError(`fromIntegers: ${n} values do not fill shape ${JSON.stringify(shape)}`);
  }
  const data = new Uint8Array(n * bytesPerElement(dtype));
  const view = viewOf(data);
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    switch (dtype) {
      case 'I64':
        view.setBigInt64(i * 8, BigInt(v), true);
        break;
      case 'I32':
        view.setInt32(i * 4, v, true);
        break;
      case 'I16':
        view.setInt16(i * 2, v, true);
        break;
      case 'I8':
        view.setInt8(i, v);
        break;
      case 'U8':
      case 'BOOL':
        view.setUint8(i, v);
        break;
      default:
        throw new DTypeConversionError(`fromIntegers: ${dtype} is not an integer dtype`);
    }
  }
  return { dtype, shape: [...shape], data };
}
