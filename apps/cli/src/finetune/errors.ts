import { PeftError } from '@peft/core';

/** An adapter folder does not fit the model it is applied to (other model, other shapes, other layers). */
export class AdapterModelMismatchError extends PeftError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ADAPTER_MODEL_MISMATCH', message, options);
  }
}

/** A `--resume` that cannot continue: no checkpoint, or one written for other options, model or data. */
export class ResumeError extends PeftError {
  constructor(message: string) {
    super('RESUME', message);
  }
}
