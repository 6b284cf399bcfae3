import { PeftError } from '@peft/core';

/** Merging would produce a non-finite weight (the model is left unchanged). */
export class MergeError extends PeftError {
  constructor(message: string) {
    super('MERGE_NON_FINITE', message);
  }
}

/** `target_modules` (with `layers_to_transform` / `layers_pattern`) matched nothing, or a non-linear module. */
export class TargetModulesError extends PeftError {
  constructor(message: string) {
    super('TARGET_MODULES', message);
  }
}

/**
 * An adapter file does not fit the model: missing, unexpected or wrongly shaped tensors. Every
 * problem is listed at once (`problems`), each naming the tensor key.
 */
export class AdapterMismatchError extends PeftError {
  readonly problems: readonly string[];

  constructor(source: string, problems: readonly string[]) {
    super(
      'ADAPTER_MISMATCH',
      `${source} does not fit this model (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n` +
        problems.map((p) => `  - ${p}`).join('\n'),
    );
    this.problems = problems;
  }
}

/** An adapter operation named an adapter that does not exist, or one that already does. */
export class AdapterStateError extends PeftError {
  constructor(message: string) {
    super('ADAPTER_STATE', message);
  }
}

/** A required file is missing from an adapter folder or file map. */
export class AdapterFileError extends PeftError {
  readonly file: string;

  constructor(file: string, detail: string, options?: { cause?: unknown }) {
    super('ADAPTER_FILE', `${file}: ${detail}`, options);
    this.file = file;
  }
}
