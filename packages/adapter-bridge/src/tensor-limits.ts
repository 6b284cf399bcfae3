import { ConfigError } from '@peft/core';

/**
 * The most elements one adapter tensor may have: 2^28, i.e. 1 GiB of float32. Far above real
 * adapters (LoRA r = 1024 on a 128,256-token head is 131M elements; VeRA r = 256 at width 11,008 is
 * 2.8M) and a quarter of a wasm heap, so a config that asks for more is refused before anything is
 * allocated rather than failing inside a typed-array constructor or exhausting memory.
 */
export const MAX_ADAPTER_TENSOR_ELEMENTS = 2 ** 28;

export interface AdapterTensorSize {
  /** The tensor's name as PEFT saves it, e.g. "vera_A" or "lora_B.weight". */
  readonly tensor: string;
  readonly shape: readonly number[];
  /** The config field that sets one of its dimensions, e.g. "r" or 'rank_pattern["q_proj"]'. */
  readonly field: string;
  /** That field's value (a dimension of `shape`). */
  readonly value: number;
  /** Where, for the message, e.g. the layer path or the config file. */
  readonly where?: string;
}

/**
 * Throws a `ConfigError` naming the field, its value, the tensor and the limit when a tensor whose
 * size a config field sets would hold more than `MAX_ADAPTER_TENSOR_ELEMENTS` elements.
 */
export function assertAdapterTensorFits(size: AdapterTensorSize): void {
  const elements = size.shape.reduce((a, b) => a * b, 1);
  if (elements <= MAX_ADAPTER_TENSOR_ELEMENTS) return;
  const others = size.value > 0 ? elements / size.value : 1;
  const largest = Math.max(1, Math.floor(MAX_ADAPTER_TENSOR_ELEMENTS / others));
  throw new ConfigError(
    `${size.where ? `${size.where}: ` : ''}adapter config field "${size.field}" = ${size.value} would make ` +
      `${size.tensor} [${size.shape.join(', ')}] hold ${elements} elements, more than the limit of ` +
      `${MAX_ADAPTER_TENSOR_ELEMENTS} (2^28) for one adapter tensor; use ${size.field} <= ${largest} for this model`,
  );
}
