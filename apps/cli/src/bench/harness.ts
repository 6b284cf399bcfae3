/** One measured comparison, as the `peft bench` report lists it. */
export interface BenchCase {
  name: string;
  shape: Record<string, number>;
  ours_ms: number;
  baseline_ms: number;
  /** What the baseline is, precisely enough to reproduce it. */
  baseline: string;
  /** baseline_ms / ours_ms: above 1 means ours is faster. */
  speedup: number;
  /** The target this case is measured against, e.g. ">= 3x". */
  goal?: string;
  extra?: Record<string, unknown>;
}

export interface TimingOptions {
  /** Untimed calls first (JIT, caches, allocator). Default 2. */
  warmup?: number;
  /** Timed calls; the median is reported. Default 7. */
  runs?: number;
}

/** Median wall time of `fn` in milliseconds after warm-up calls. */
export function medianMs(fn: () => void, options: TimingOptions = {}): number {
  const warmup = options.warmup ?? 2;
  const runs = Math.max(1, options.runs ?? 7);
  for (let i = 0; i < warmup; i++) fn();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    fn();
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  const mid = times.length >> 1;
  return times.length % 2 ? times[mid]! : (times[mid - 1]! + times[mid]!) / 2;
}

/** Builds a BenchCase, rounding times to microseconds and computing the speedup. */
export function benchCase(c: Omit<BenchCase, 'speedup'>): BenchCase {
  const round = (ms: number) => Math.round(ms * 1000) / 1000;
  return {
    ...c,
    ours_ms: round(c.ours_ms),
    baseline_ms: round(c.baseline_ms),
    speedup: Math.round((c.baseline_ms / c.ours_ms) * 100) / 100,
  };
}
