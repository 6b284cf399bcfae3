import { PeftError } from '@peft/core';

/** The requested TensorFlow.js backend cannot run here (no WebGPU adapter, no wasm, unknown name). */
export class BackendUnavailableError extends PeftError {
  readonly backend: string;

  constructor(backend: string, detail: string, options?: { cause?: unknown }) {
    super('BACKEND_UNAVAILABLE', `backend "${backend}": ${detail}`, options);
    this.backend = backend;
  }
}
