import { type LinearFormat, registerLinearFormat } from '@peft/core';
import { Bnb4Linear } from './bnb4-linear.js';
import { hasBnb4QuantState, readBnb4Tensor } from './state-dict.js';

/**
 * The bitsandbytes 4-bit linear format: a prefix whose `weight.quant_state.bitsandbytes__nf4|fp4`
 * tensor exists is read as a Bnb4Linear. (Any `bitsandbytes__*` name is claimed, so an unknown
 * quant type is reported as such rather than misread as a dense U8 weight.)
 */
export const bnb4LinearFormat: LinearFormat = {
  specificationVersion: 'v1',
  name: 'bnb4',
  detect: (source, prefix) => hasBnb4QuantState(source, prefix),
  read: async (source, prefix) => {
    const { tensor, bias } = await readBnb4Tensor(source, prefix);
    return Bnb4Linear.fromTensor(tensor, bias, { name: `${source.name}: ${prefix}` });
  },
};

/** Registers the bnb4 format with @peft/core's `loadLinear`. Idempotent; importing the package already does it. */
export function registerBnb4(): void {
  registerLinearFormat(bnb4LinearFormat);
}
