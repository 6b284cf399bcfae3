import { type HostTensor, NonFiniteWeightError, numElements, toFloat32 } from '@peft/core';

/**
 * The flat index of the first NaN or ±Inf in a float host tensor, or -1. Reads the exponent bits of the
 * stored little-endian bytes (all ones means NaN or Inf), so the check allocates nothing and costs far
 * less than the float32 conversion that follows it. F64 is checked after conversion to float32, where a
 * finite value too large for float32 would become Inf too.
 */
export function firstNonFinite(tensor: HostTensor): number {
  const { data } = tensor;
  const n = numElements(tensor.shape);
  switch (tensor.dtype) {
    case 'F32':
      // Exponent: bits 23..30, i.e. the low 7 bits of byte 3 and the top bit of byte 2.
      for (let i = 0; i < n; i++) {
        if ((data[4 * i + 3]! & 0x7f) === 0x7f && (data[4 * i + 2]! & 0x80) !== 0) return i;
      }
      return -1;
    case 'BF16':
      // The top half of a float32: bits 7..14.
      for (let i = 0; i < n; i++) {
        if ((data[2 * i + 1]! & 0x7f) === 0x7f && (data[2 * i]! & 0x80) !== 0) return i;
      }
      return -1;
    case 'F16':
      // Exponent: bits 10..14, i.e. bits 2..6 of the high byte.
      for (let i = 0; i < n; i++) if ((data[2 * i + 1]! & 0x7c) === 0x7c) return i;
      return -1;
    default: {
      const values = toFloat32(tensor);
      for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i]!)) return i;
      return -1;
    }
  }
}

/**
 * Refuses a float weight holding NaN or ±Inf: a model built from it computes NaN everywhere (a loss of
 * NaN, generation that stops at the prompt) with nothing saying why. Names the file and the tensor.
 */
export function assertFiniteWeight(tensor: HostTensor, file: string, name: string): void {
  const index = firstNonFinite(tensor);
  if (index < 0) return;
  const value = toFloat32({ dtype: tensor.dtype, shape: [1], data: elementBytes(tensor, index) })[0]!;
  const error = new NonFiniteWeightError(name, index, value);
  error.message = `${file}: ${error.message}; the checkpoint is damaged (or was saved from a diverged run): re-download or re-export it`;
  throw error;
}

function elementBytes(tensor: HostTensor, index: number): Uint8Array {
  const size = tensor.data.byteLength / numElements(tensor.shape);
  return tensor.data.subarray(index * size, (index + 1) * size);
}
