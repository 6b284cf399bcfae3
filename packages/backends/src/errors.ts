import { PeftError } from '@peft/core';

/** The requested TensorFlow.js backend cannot run here (no WebGPU adapter, no wasm, unknown name). */
export class BackendUnavailableError extends PeftError {
  readonly backend: string;

  constructor(backend: string, detail: string, options?: { cause?: unknown }) {
    super('BACKEND_UNAVAILABLE', `backend "${backend}": ${detail}`, options);
    this.backend = backend;
  }
}

/** An option of setupBackend is out of its allowed range (checked before anything starts). */
export class BackendOptionError extends PeftError {
  /** The option's name, e.g. "kernelThreads". */
  readonly option: string;

  constructor(option: string, detail: string) {
    super('BACKEND_OPTION_INVALID', `setupBackend option "${option}": ${detail}`);
    this.option = option;
  }
}
