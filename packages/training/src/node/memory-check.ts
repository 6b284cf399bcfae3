// Refuses a run whose estimated memory cannot fit TensorFlow.js' wasm heap, before any weight is loaded,
// and turns the runtime's own out-of-memory failures into an OutOfMemoryError that says what to lower.
import type { AdapterConfig } from '@peft/adapter-bridge';
import * as tf from '@tensorflow/tfjs-core';
import {
  formatGiB,
  isRuntimeOutOfMemory,
  type MemorySettings,
  OutOfMemoryError,
  WASM_HEAP_CEILING_BYTES,
} from '../out-of-memory.js';
import { resolveTrainingArguments, type TrainingArguments } from '../training-arguments.js';
import type { QuantizeOptions } from './model-folder.js';
import { givenQuantizeOptions } from './model-folder.js';
import { planFineTuning, readModelConfig } from './plan.js';

export interface MemoryCheckOptions extends QuantizeOptions, Partial<TrainingArguments> {
  model: string;
  gradientCheckpointing?: boolean;
}

/**
 * The plan's estimate of the run on the wasm backend, for batches as long as the data makes them: batches are
 * padded to their longest example, so with `longestExample` the estimate uses min(--seq-len, longestExample)
 * tokens per row, and a run whose wasm heap (or largest single tensor) would pass the 4 GiB ceiling is refused
 * with an OutOfMemoryError. Without `longestExample` (the data is not read yet) nothing is refused: short rows
 * under a long --seq-len must not be turned away. On other backends nothing is refused. Returns the settings an
 * out-of-memory error during the run quotes.
 */
export async function checkTrainingMemory(
  options: MemoryCheckOptions,
  adapter: AdapterConfig,
  longestExample: number | null,
): Promise<MemorySettings> {
  const gradientCheckpointing = options.gradientCheckpointing ?? false;
  // A folder whose config cannot be read is the loader's to report, with its own message.
  const read = await readModelConfig(options.model).catch(() => null);
  if (!read) {
    const args = resolveTrainingArguments(options, { learningRate: 1, maxPositions: 512 });
    const quantize = options.quantize ?? 'none';
    return { batchSize: args.batchSize, seqLen: args.seqLen, gradientCheckpointing, quantize };
  }
  const { config } = read;
  const resolved = resolveTrainingArguments(options, {
    learningRate: 1,
    maxPositions: config.maxPositionEmbeddings,
  });
  const args =
    longestExample === null ? resolved : { ...resolved, seqLen: Math.min(resolved.seqLen, longestExample) };
  const quantize = options.quantize === 'none' ? undefined : options.quantize;
  let report: ReturnType<typeof planFineTuning>;
  try {
    report = planFineTuning(config, {
      adapter,
      batchSize: args.batchSize,
      seqLen: args.seqLen,
      gradientCheckpointing,
      ...(quantize === undefined ? {} : { quantize }),
      quantizeOptions: givenQuantizeOptions(options),
    });
  } catch {
    // What the plan cannot size (a target that matches nothing, an older method contract) the run reports.
    return {
      batchSize: args.batchSize,
      seqLen: args.seqLen,
      gradientCheckpointing,
      quantize: options.quantize ?? 'none',
    };
  }
  const memory = report.training_memory;
  const settings: MemorySettings = {
    batchSize: args.batchSize,
    seqLen: args.seqLen,
    gradientCheckpointing,
    quantize: memory.quantize,
  };
  if (longestExample === null || tf.getBackend() !== 'wasm') return settings;
  const over =
    memory.largest_tensor > WASM_HEAP_CEILING_BYTES
      ? `its largest tensor (${memory.largest_tensor_name}) alone needs ${formatGiB(memory.largest_tensor)}`
      : memory.wasm_heap > WASM_HEAP_CEILING_BYTES
        ? `the plan estimates ${formatGiB(memory.wasm_heap)} of TensorFlow.js wasm heap`
        : null;
  if (over) {
    throw new OutOfMemoryError({
      ...settings,
      where: 'before training (no step ran, nothing was written)',
      detail: `${over}, past the wasm heap's 4 GiB ceiling (see peft plan)`,
    });
  }
  return settings;
}

/** `error` as an OutOfMemoryError when it is the runtime running out of memory, else `error` itself. */
export function asOutOfMemory(error: unknown, where: string, settings: MemorySettings): unknown {
  if (!isRuntimeOutOfMemory(error)) return error;
  const heap = wasmHeapSize();
  const reached = heap > 0 ? `the wasm heap had grown to ${formatGiB(heap)} of its 4 GiB ceiling; ` : '';
  return new OutOfMemoryError(
    { ...settings, where, detail: `${reached}the runtime reported "${(error as Error).message}"` },
    { cause: error },
  );
}

function wasmHeapSize(): number {
  try {
    if (tf.getBackend() !== 'wasm') return 0;
    const backend = tf.backend() as unknown as { wasm?: { HEAPU8?: Uint8Array } };
    return backend.wasm?.HEAPU8?.buffer.byteLength ?? 0;
  } catch {
    return 0;
  }
}
