import { PeftError } from './errors.js';

/** The tensor element types of the safetensors format that peft.js reads and writes. */
export const DTYPES = ['F64', 'F32', 'F16', 'BF16', 'I64', 'I32', 'I16', 'I8', 'U8', 'BOOL'] as const;
export type DType = (typeof DTYPES)[number];

const BYTES_PER_ELEMENT: Record<DType, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

export function isDType(value: unknown): value is DType {
  return typeof value === 'string' && (DTYPES as readonly string[]).includes(value);
}

export function bytesPerElement(dtype: DType): number {
  return BYTES_PER_ELEMENT[dtype];
}

export function isFloatDType(dtype: DType): boolean {
  return dtype === 'F64' || dtype === 'F32' || dtype === 'F16' || dtype === 'BF16';
}

/** Product of a shape's dimensions; a scalar (empty shape) has one element. */
export function numElements(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Thrown when a conversion is asked of a dtype that has no meaningful float view. */
export class DTypeConversionError extends PeftError {
  constructor(message: string) {
    super('DTYPE_CONVERSION', message);
  }
}
