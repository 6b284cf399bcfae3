import { PeftError } from '@peft/core';

/**
 * A bitsandbytes 4-bit tensor or its quantization state is malformed: wrong lengths, an unknown
 * quant type, a bad blocksize, a JSON blob that does not parse. Names the source and the tensor.
 */
export class Bnb4FormatError extends PeftError {
  readonly source: string;
  readonly tensor: string;

  constructor(source: string, tensor: string, detail: string) {
    super('BNB4_FORMAT', `${source}: "${tensor}": ${detail}`);
    this.source = source;
    this.tensor = tensor;
  }
}
