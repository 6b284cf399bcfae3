import { PeftError } from '@peft/core';

/** Bad forward or generation input: token ids outside the vocabulary, labels, masks, options. */
export class InputError extends PeftError {
  constructor(message: string) {
    super('INVALID_INPUT', message);
  }
}

/** A checkpoint lacks a tensor the config requires, or has one the model does not know. */
export class CheckpointError extends PeftError {
  readonly tensor: string;

  constructor(source: string, tensor: string, detail: string) {
    super('CHECKPOINT_INVALID', `${source}: tensor "${tensor}" ${detail}`);
    this.tensor = tensor;
  }
}
