// The golden cases come from the package's test entry (src/testing), which other packages' tests use too.
export {
  type Bnb4GoldenCase as GoldenCase,
  bnb4GoldenCases as goldenCases,
  bytesFromBase64 as bytesFromB64,
  float32FromBase64 as f32FromB64,
  readBnb4Fixture as readFixture,
} from '../testing/golden.js';

/** float32 bit patterns, so comparisons are exact (but -0 and +0 differ; see `sameNumbers`). */
export function bitsOf(values: Float32Array | readonly number[]): number[] {
  const f = Float32Array.from(values);
  return Array.from(new Uint32Array(f.buffer));
}

/** Indices where two float arrays differ, treating -0 and +0 as equal and requiring equal length. */
export function mismatches(actual: ArrayLike<number>, expected: ArrayLike<number>): number[] {
  if (actual.length !== expected.length) return [-1];
  const bad: number[] = [];
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (!(a === e || (Number.isNaN(a) && Number.isNaN(e)))) bad.push(i);
  }
  return bad;
}
