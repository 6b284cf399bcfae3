import { PeftError } from '@peft/core';

/** TensorFlow.js' wasm heap is a wasm32 memory: it cannot grow past 4 GiB, whatever the machine has. */
export const WASM_HEAP_CEILING_BYTES = 4 * 1024 ** 3;

/** The run settings the advice of an out-of-memory error names, as the `peft finetune` flags. */
export interface MemorySettings {
  readonly batchSize: number;
  readonly seqLen: number;
  readonly gradientCheckpointing: boolean;
  /** The base storage: a quantizer's name, or "none" for float32 weights. */
  readonly quantize: string;
}

export interface OutOfMemoryDetails extends MemorySettings {
  /** Where it happened: "before training" (refused from the plan's estimate), or "in step N", "while loading". */
  readonly where: string;
  /** What ran out, e.g. "the wasm heap (4 GiB ceiling) ..." or the plan's estimate. */
  readonly detail: string;
}

const GIB = 1024 ** 3;

/** `bytes` as GiB with two decimals, e.g. "3.42 GiB". */
export function formatGiB(bytes: number): string {
  return `${(bytes / GIB).toFixed(2)} GiB`;
}

/** What to lower, most effective first, given the current settings. */
export function memoryAdvice(settings: MemorySettings): string {
  const steps: string[] = [];
  if (settings.batchSize > 1) steps.push(`lower --batch-size (now ${settings.batchSize})`);
  steps.push(`lower --seq-len (now ${settings.seqLen})`);
  if (!settings.gradientCheckpointing) steps.push('add --gradient-checkpointing');
  if (settings.quantize === 'none') steps.push('add --quantize nf4');
  return steps.join(', ');
}

/**
 * Training (or loading) needs more memory than the backend can give: on wasm, more than its 4 GiB heap.
 * Raised instead of the runtime's own failure (a wasm `Aborted()`, `memory access out of bounds`, an
 * XNNPACK out-of-memory status), with the settings to lower. A run refused before training wrote nothing;
 * one that failed in a step keeps its checkpoints up to the step before.
 */
export class OutOfMemoryError extends PeftError {
  readonly where: string;
  readonly settings: MemorySettings;

  constructor(details: OutOfMemoryDetails, options?: { cause?: unknown }) {
    const { where, detail, ...settings } = details;
    super(
      'OUT_OF_MEMORY',
      `out of memory ${where}: ${detail}; ${memoryAdvice(settings)} (--grad-accum-steps keeps the ` +
        'effective batch while lowering --batch-size)',
      options,
    );
    this.where = where;
    this.settings = settings;
  }
}

export function isOutOfMemory(error: unknown): error is OutOfMemoryError {
  return error instanceof OutOfMemoryError;
}

/**
 * Failures that mean the runtime ran out of memory: emscripten's abort when the heap cannot grow (or any
 * abort: a dead wasm instance cannot continue either way), an access past the heap after XNNPACK failed to
 * allocate an operator, V8's failed ArrayBuffer or typed-array allocation, and XNNPACK's out-of-memory status (6).
 */
const OUT_OF_MEMORY_MESSAGES = [
  /^Aborted\(/,
  /memory access out of bounds/i,
  /Cannot enlarge memory/i,
  /Out of memory/i,
  /Array buffer allocation failed/i,
  /WebAssembly\.Memory\(\)?: could not allocate memory/i,
  /Invalid typed array length/i,
  /Got status 6\b/,
];

/** Whether `error` is the runtime's way of saying it ran out of memory (see OUT_OF_MEMORY_MESSAGES). */
export function isRuntimeOutOfMemory(error: unknown): boolean {
  if (error instanceof PeftError || !(error instanceof Error)) return false;
  const text = `${error.name}: ${error.message}`;
  return OUT_OF_MEMORY_MESSAGES.some((pattern) => pattern.test(error.message) || pattern.test(text));
}
