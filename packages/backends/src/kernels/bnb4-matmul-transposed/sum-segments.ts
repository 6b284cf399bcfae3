// The fixed order in which dy·W adds up its partial sums, the same on any number of threads.
//
// dx[m, k] = sum_n dy[m, n] W[n, k] sums over the rows of W, and float32 addition is not associative: if threads
// kept their own running sums and added them at the end, the result would depend on which thread took which rows
// (and so on machine load), and two identical fine-tuning runs would differ. Instead the rows of W are cut into
// segments that depend only on the shapes: each segment's sum starts from zero and adds its 16-row chunks in
// order, and the segment sums are added in segment order. One thread or many, each segment is computed the same
// way wherever it runs, so dx is bit for bit the same.

/** Rows per integer-rounded chunk of the fixed-point kernel (assembly/fixed16-transposed.ts). */
const CHUNK = 16;
/** At most this many segments: enough for threads to share out, few enough that the final adds stay cheap. */
const MAX_SEGMENTS = 32;
/** Fewer segments for large outputs, keeping their sums (one dx-sized buffer each) to about this many bytes... */
const SEGMENT_SUM_BYTES = 1 << 27;
/** ...but never fewer than this many (when W has the rows), so threads still have something to share. */
const MIN_SEGMENTS = 4;
/**
 * Beyond MIN_SEGMENTS, segments are at least this many rows of W: adding a segment's sum costs one float32 add per
 * output element, its compute one int16 multiply-add per output element and row, and the adds run about 46 times
 * slower per element (measured: 31 zero-and-add passes over 256 x 4096 sums took 117 ms, next to ~340 ms for the
 * whole M = 256, N = K = 4096 product), so 512-row segments keep the adds near 9% of the product.
 */
const MIN_SEGMENT_ROWS = 512;

export interface SumSegments {
  /** Rows of W per segment, a multiple of 16 (the last segment may be shorter). */
  rows: number;
  count: number;
}

/** The segments of dy·W for W [N, K] and `rows` rows of dy: a function of the shapes only, never of threads. */
export function sumSegments(N: number, rows: number, K: number): SumSegments {
  const chunks = Math.ceil(N / CHUNK);
  const bySize = Math.floor(SEGMENT_SUM_BYTES / Math.max(1, rows * K * 4));
  const wanted = Math.min(
    chunks,
    MAX_SEGMENTS,
    Math.max(MIN_SEGMENTS, Math.min(bySize, Math.floor(N / MIN_SEGMENT_ROWS))),
  );
  const segmentRows = Math.ceil(chunks / wanted) * CHUNK;
  return { rows: segmentRows, count: Math.ceil(N / segmentRows) };
}

/** Rows [start, end) of W in segment s. */
export function segmentRange(segments: SumSegments, N: number, s: number): [number, number] {
  const start = s * segments.rows;
  return [start, Math.min(N, start + segments.rows)];
}

/** total += part, element by element (float32 adds: the same bits in JavaScript as in wasm). */
export function addSums(total: Float32Array, part: Float32Array): void {
  for (let i = 0; i < total.length; i++) total[i]! += part[i]!;
}
