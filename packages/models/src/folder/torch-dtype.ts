// PyTorch's names for the float dtypes (config.json's `torch_dtype`, a quant state's `dtype`) and the
// safetensors dtypes they are stored as.
import type { DType } from '@peft/core';

export const TORCH_FLOAT_DTYPES = ['float32', 'float16', 'bfloat16'] as const;
export type TorchFloatDType = (typeof TORCH_FLOAT_DTYPES)[number];

const STORED_AS: Record<TorchFloatDType, DType> = { float32: 'F32', float16: 'F16', bfloat16: 'BF16' };

export function isTorchFloatDType(value: unknown): value is TorchFloatDType {
  return typeof value === 'string' && (TORCH_FLOAT_DTYPES as readonly string[]).includes(value);
}

export function safetensorsDType(dtype: TorchFloatDType): DType {
  return STORED_AS[dtype];
}

/** The torch name of a stored float dtype, or null for F64 and the integer types. */
export function torchDType(dtype: DType): TorchFloatDType | null {
  for (const name of TORCH_FLOAT_DTYPES) if (STORED_AS[name] === dtype) return name;
  return null;
}

/** The model's float dtype as its config.json declares it (`torch_dtype`, or `dtype` in newer transformers). */
export function declaredDType(config: Readonly<Record<string, unknown>>): TorchFloatDType | null {
  const declared = String(config['torch_dtype'] ?? config['dtype'] ?? '');
  return isTorchFloatDType(declared) ? declared : null;
}
