// Prints the arithmetic ceiling of wasm SIMD128 on one core of this machine, as one JSON line: float32
// multiply-adds (what the dense kernels and XNNPACK run) and int16 dot products (what the 4-bit kernels run).
// docs/performance.md compares them with the kernels' own rates and with PyTorch's. Run after `pnpm install`:
//   node tools/simd-peak/run.mjs
// Compiled here with the AssemblyScript that @peft/backends builds its kernels with, into a temporary folder.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const backends = createRequire(join(here, '../../packages/backends/package.json'));
const asc = join(dirname(backends.resolve('assemblyscript/package.json')), 'bin/asc.js');
const out = mkdtempSync(join(tmpdir(), 'simd-peak-'));
let exports;
try {
  const wasm = join(out, 'peak.wasm');
  execFileSync(process.execPath, [asc, join(here, 'peak.ts'), '-O3', '--enable', 'simd', '-o', wasm]);
  ({ exports } = await WebAssembly.instantiate(readFileSync(wasm)).then((m) => m.instance));
} finally {
  rmSync(out, { recursive: true, force: true });
}

const ITERS = 2e8;
/** Best of five timed calls after a warm-up one (the engine tiers the function up during the first). */
function best(run) {
  run(ITERS / 10);
  let seconds = Infinity;
  for (let i = 0; i < 5; i++) {
    const start = performance.now();
    run(ITERS);
    seconds = Math.min(seconds, (performance.now() - start) / 1000);
  }
  return seconds;
}
// f32: 9 multiplies and 8 adds of 4 lanes per iteration; int16: 8 dot products of 8 lanes (a multiply and an add
// each) and 8 adds of 4 lanes, counted as 8 x 8 x 2 operations.
const f32 = (ITERS * 17 * 4) / best(exports.f32MulAdd) / 1e9;
const i16 = (ITERS * 8 * 8 * 2) / best(exports.i16Dot) / 1e9;
process.stdout.write(
  `${JSON.stringify({
    node: process.versions.node,
    f32GflopsPerCore: Number(f32.toFixed(1)),
    int16DotGopsPerCore: Number(i16.toFixed(1)),
  })}\n`,
);
