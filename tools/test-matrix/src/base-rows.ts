import { DenseLinear } from '@peft/core';
import { Bnb4Linear } from '@peft/quant-bnb4';
import type { BaseLayerRow } from './rows.js';

export const denseRow: BaseLayerRow = {
  name: 'dense',
  scheme: 'dense',
  lossy: false,
  makeLayer: (w, out, inF) => DenseLinear.fromArray(w, out, inF),
};

function bnb4Row(quantType: 'nf4' | 'fp4', doubleQuant: boolean): BaseLayerRow {
  return {
    name: `${quantType}${doubleQuant ? '-dq' : ''}`,
    scheme: `bnb4-${quantType}`,
    lossy: true,
    makeLayer: (w, out, inF, path) =>
      Bnb4Linear.quantize(w, { shape: [out, inF], quantType, doubleQuant, blocksize: 64, name: path }),
  };
}

export const nf4Row = bnb4Row('nf4', false);
export const nf4DqRow = bnb4Row('nf4', true);
export const fp4Row = bnb4Row('fp4', false);
export const fp4DqRow = bnb4Row('fp4', true);

/** Every base layer kind this repository ships: dense, and bitsandbytes NF4/FP4 with and without double quantization. */
export const baseLayerRows: readonly BaseLayerRow[] = [denseRow, nf4Row, nf4DqRow, fp4Row, fp4DqRow];
