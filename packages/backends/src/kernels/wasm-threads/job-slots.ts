// The control block the kernel threads share: one slot of SLOT_INTS int32s per worker, in the shared arena. The
// calling thread writes a job's arguments, then the state; the worker runs it and writes the state back. Both
// sides use Atomics on the state, which orders the plain reads and writes of arguments and data around it.
// A job is not a fixed range of rows: every thread claims chunks of rows from a shared counter until none are
// left, so a thread that runs slower (a busy core) simply takes fewer chunks.

export const SLOT_INTS = 32;

/** Slot states. */
export const IDLE = 0;
export const POSTED = 1;
export const DONE = 2;
export const FAILED = 3;
export const EXIT = 4;

/** Where each argument of a job sits in its slot (int32 index; offset and codeScale are read as float32). */
export const Arg = {
  state: 0,
  packed: 1,
  absmax: 2,
  nested: 3,
  nestedAbsmax: 4,
  nestedCode: 5,
  nestedBlocksize: 6,
  offset: 7,
  code: 8,
  blocksizeLog2: 9,
  outFeatures: 10,
  inFeatures: 11,
  x16: 12,
  scales: 13,
  rows: 14,
  tables: 15,
  y: 16,
  work: 17,
  /** Rows of W from chunkFirst on are shared out in chunks of chunkRows; the last chunk ends at outFeatures. */
  chunkFirst: 18,
  chunkRows: 19,
  chunkCount: 20,
  /** Byte offset of the int32 every thread increments to claim the next chunk. */
  counter: 21,
  /**
   * 0: x·Wᵀ (x16, scales -> y). 1: dy·W (dy in the x16 slot, its sums in the y slot, codeScale). 2 and 3: the
   * dense float32 products x·Wᵀ and x·W (denseX, denseW -> y; rows, inFeatures = K, outFeatures = N).
   */
  kind: 22,
  codeScale: 23,
  /** What the job found: for dy·W, 1 when some dy * A was NaN or infinite. */
  result: 24,
  /**
   * Tests only: milliseconds the worker sleeps before each claim (a slow core), set by KernelThreads.slowWorker;
   * post() leaves it alone. It changes timing, never results.
   */
  testDelayMs: 25,
  /** Always 0: the worker sleeps by waiting on it. */
  testSleep: 26,
  /** Dense products: x in the arena (x·W: one slab of its columns, rows `denseLdx` floats apart). */
  denseX: 27,
  /** Dense products: W in the arena (x·Wᵀ: its rows from chunkFirst on; x·W: one slab of its rows). */
  denseW: 28,
  denseLdx: 29,
  /** x·W: 1 when the slab adds to y's sums (not the first slab). */
  denseAccumulate: 30,
} as const;
