// Value checks on a 4-bit quant state, run when it is read (and when a layer is built from one), so that a
// corrupt or hostile checkpoint is refused at load, naming the tensor, instead of dequantizing to Inf/NaN or
// failing later inside a kernel.
import type { Bnb4QuantState } from './types.js';

/** Where each part of a state comes from, for error messages (state-dict keys, or names relative to a layer). */
export interface QuantStateNames {
  absmax: string;
  quantMap: string;
  nestedAbsmax: string;
  nestedQuantMap: string;
  /** The JSON blob that carries nested_offset. */
  quantState: string;
}

export function quantStateNames(prefix: string, quantStateKey: string): QuantStateNames {
  return {
    absmax: `${prefix}weight.absmax`,
    quantMap: `${prefix}weight.quant_map`,
    nestedAbsmax: `${prefix}weight.nested_absmax`,
    nestedQuantMap: `${prefix}weight.nested_quant_map`,
    quantState: quantStateKey,
  };
}

function firstNonFinite(values: Float32Array): number {
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i]!)) return i;
  return -1;
}

function largestMagnitude(values: Float32Array): number {
  let m = 0;
  for (let i = 0; i < values.length; i++) m = Math.max(m, Math.abs(values[i]!));
  return m;
}

/**
 * Calls `fail(tensor, detail)` (which throws) for the first value problem of `state`: a NaN or ±Inf in a code
 * table or a scale, a nested offset or recovered block scale that is not a finite float32, or scales and levels
 * whose products overflow float32 (dequantization would write ±Inf). Lengths are the reader's job.
 */
export function checkQuantStateValues(
  state: Bnb4QuantState,
  names: QuantStateNames,
  fail: (tensor: string, detail: string) => never,
): void {
  const finite = (values: Float32Array, tensor: string): void => {
    const i = firstNonFinite(values);
    if (i >= 0) fail(tensor, `holds ${values[i]} at index ${i}; every value must be finite`);
  };
  finite(state.code, names.quantMap);
  let scales: Float32Array;
  let scaleTensor = names.absmax;
  if (state.nested) {
    const { nested } = state;
    finite(nested.code, names.nestedQuantMap);
    finite(nested.absmax, names.nestedAbsmax);
    if (!Number.isFinite(Math.fround(nested.offset)))
      fail(names.quantState, `nested_offset ${nested.offset} is not a finite float32`);
    scales = new Float32Array(nested.codes.length);
    for (let b = 0; b < scales.length; b++) {
      const level = nested.code[nested.codes[b]!]!;
      const scaled = Math.fround(level * nested.absmax[Math.floor(b / nested.blocksize)]!);
      if (!Number.isFinite(scaled))
        fail(
          names.nestedAbsmax,
          `block ${b}: its scale times nested_quant_map[${nested.codes[b]}] overflows float32`,
        );
      scales[b] = Math.fround(scaled + nested.offset);
      if (!Number.isFinite(scales[b]!))
        fail(
          names.quantState,
          `nested_offset ${nested.offset} makes the scale of block ${b} overflow float32 (${scaled} + offset)`,
        );
    }
    scaleTensor = names.nestedAbsmax;
  } else {
    scales = state.absmax ?? new Float32Array(0);
    finite(scales, names.absmax);
  }
  const level = largestMagnitude(state.code);
  const scale = largestMagnitude(scales);
  if (!Number.isFinite(Math.fround(level * scale)))
    fail(
      scaleTensor,
      `a block scale of magnitude ${scale} times a quant_map level of magnitude ${level} overflows float32`,
    );
}
