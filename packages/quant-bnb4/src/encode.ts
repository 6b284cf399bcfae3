// Value -> code encoders, transcribing the comparisons of bitsandbytes' CUDA kernels
// (dQuantizeNF4, dQuantizeFP4, dQuantize<0>). Inputs are already-scaled float32 values.
import { DYNAMIC_MAP_SIGNED, FP4_RANK_TO_BITS, FP4_THRESHOLDS, NF4_THRESHOLDS } from './tables.js';

const [t0, t1, t2, t3, t4, t5, t6, t7, t8, t9, t10, t11, t12, t13, t14] =
  NF4_THRESHOLDS as unknown as number[];

/**
 * NF4 code of a scaled value: the number of thresholds strictly below it, which is what the kernel's
 * balanced tree of strict `>` tests computes (a tie takes the lower code; NaN, every test false, gives 0).
 * Counted without branches: on real weights a tree mispredicts about every other level.
 */
export function encodeNf4(s: number): number {
  return (
    +(s > t0!) +
    +(s > t1!) +
    +(s > t2!) +
    +(s > t3!) +
    +(s > t4!) +
    +(s > t5!) +
    +(s > t6!) +
    +(s > t7!) +
    +(s > t8!) +
    +(s > t9!) +
    +(s > t10!) +
    +(s > t11!) +
    +(s > t12!) +
    +(s > t13!) +
    +(s > t14!)
  );
}

const [f0, f1, f2, f3, f4, f5, f6] = FP4_THRESHOLDS as unknown as number[];

/**
 * FP4 code: sign bit 8 only for s < 0 (so -0.0 and NaN count as positive), then the magnitude rank by
 * strict `>` tests against the kernel's literal thresholds (ties go to the smaller magnitude).
 */
export function encodeFp4(s: number): number {
  const a = Math.abs(s);
  const rank = +(a > f0!) + +(a > f1!) + +(a > f2!) + +(a > f3!) + +(a > f4!) + +(a > f5!) + +(a > f6!);
  return FP4_RANK_TO_BITS[rank]! | (s < 0 ? 8 : 0);
}

/**
 * 8-bit code of a scaled value against an ascending 256-entry map, as CUDA's `dQuantize<0>` does it:
 * seven halving steps from pivot 127 land on an even pivot, then one float32-midpoint test against the
 * neighbour on the side of the value. The result is the nearest code; an exact midpoint keeps the
 * (even) pivot; NaN gives 0.
 */
export function encodeDynamic8(s: number, map: Float32Array = DYNAMIC_MAP_SIGNED): number {
  let pivot = 127;
  let lowerPivot = 0;
  let upperPivot = 255;
  for (let step = 64; step > 0; step >>= 1) {
    if (s > map[pivot]!) {
      lowerPivot = pivot;
      pivot += step;
    } else {
      upperPivot = pivot;
      pivot -= step;
    }
  }
  const value = map[pivot]!;
  if (s > value) {
    const midpoint = Math.fround(Math.fround(map[upperPivot]! + value) * 0.5);
    return s > midpoint ? upperPivot : pivot;
  }
  const midpoint = Math.fround(Math.fround(map[lowerPivot]! + value) * 0.5);
  return s < midpoint ? lowerPivot : pivot;
}

/**
 * max |values[i]| for i in [start, end): a block's absmax, the scale both the 4-bit and the nested 8-bit
 * quantization divide by. A NaN never compares greater, so it is passed over; +Inf becomes the absmax.
 */
export function blockAbsmax(values: Float32Array, start: number, end: number): number {
  let max = 0;
  for (let i = start; i < end; i++) {
    const a = Math.abs(values[i]!);
    if (a > max) max = a;
  }
  return max;
}
