import { Arg, DONE, EXIT, FAILED, POSTED } from './job-slots.js';

// The code each kernel thread runs, as a string: Node starts it with `new Worker(source, { eval: true })`, so it
// needs no file of its own and survives bundling. It links the shared-memory build of the kernels' module to the
// shared arena, then waits on its slot: claim chunks of rows of the posted product (x·Wᵀ or dy·W, 4-bit or dense) until none are
// left (job-slots.ts), mark the slot done, wait again. dy·W writes each claimed segment's sum to that segment's slot.
//
// A failed job's error goes to the `errors` port, which the calling thread reads synchronously.
// A pointer of 0 means "absent" for the optional nested arrays, as in bindWeights.
export const KERNEL_WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { module, memory, slot, errors } = workerData;
const kernels = new WebAssembly.Instance(module, { env: { memory } }).exports;
const i32 = new Int32Array(memory.buffer);
const f32 = new Float32Array(memory.buffer);
const base = slot / 4;
parentPort.postMessage('ready');
for (;;) {
  let state = Atomics.load(i32, base);
  while (state !== ${POSTED}) {
    if (state === ${EXIT}) process.exit(0);
    Atomics.wait(i32, base, state);
    state = Atomics.load(i32, base);
  }
  const a = (name) => i32[base + name];
  try {
    const kind = a(${Arg.kind});
    if (kind < 2) {
      kernels.bindWeights(
        a(${Arg.packed}) >>> 0, a(${Arg.absmax}) >>> 0, a(${Arg.nested}), a(${Arg.nestedAbsmax}) >>> 0,
        a(${Arg.nestedCode}) >>> 0, a(${Arg.nestedBlocksize}), f32[base + ${Arg.offset}], a(${Arg.code}) >>> 0,
        a(${Arg.blocksizeLog2}), a(${Arg.outFeatures}), a(${Arg.inFeatures}),
      );
    }
    const first = a(${Arg.chunkFirst});
    const size = a(${Arg.chunkRows});
    const count = a(${Arg.chunkCount});
    const counter = a(${Arg.counter}) / 4;
    const N = a(${Arg.outFeatures});
    const rows = a(${Arg.rows});
    const tables = a(${Arg.tables}) >>> 0;
    const work = a(${Arg.work}) >>> 0;
    // testDelayMs (tests only) makes this worker sleep before each claim, as a busy core would.
    const claim = () => {
      const delay = a(${Arg.testDelayMs});
      if (delay > 0) Atomics.wait(i32, base + ${Arg.testSleep}, 0, delay);
      return Atomics.add(i32, counter, 1);
    };
    if (kind === 2 || kind === 3) {
      // Dense products (threaded-dense.ts). x·Wᵀ: chunks are rows of W, and the arena holds rows first.. of W, so
      // chunk c's start (start - first) rows into it. x·W: chunks are rows of x and y, and the arena holds rows
      // first.. of both (x: one slab of its columns, ldx apart), with all of the slab's rows of W.
      const x = a(${Arg.denseX}) >>> 0;
      const w = a(${Arg.denseW}) >>> 0;
      const y = a(${Arg.y}) >>> 0;
      const K = a(${Arg.inFeatures});
      const ldx = a(${Arg.denseLdx});
      for (let c = claim(); c < count; c = claim()) {
        const start = first + c * size;
        if (kind === 2) {
          kernels.denseNT(x, w + (start - first) * K * 4, y + start * 4, rows, K, N, 0, Math.min(N, start + size) - start);
        } else {
          const end = Math.min(rows, start + size);
          kernels.denseNN(
            x + (start - first) * ldx * 4, ldx, w, y + (start - first) * N * 4, end - start, K, N, 0, N,
            a(${Arg.denseAccumulate}),
          );
        }
      }
    } else if (kind === 0) {
      for (let c = claim(); c < count; c = claim()) {
        const start = first + c * size;
        kernels.matmulFixed16(
          a(${Arg.x16}) >>> 0, a(${Arg.scales}) >>> 0, rows, tables, a(${Arg.y}) >>> 0, work, start,
          Math.min(N, start + size),
        );
      }
    } else {
      const dy = a(${Arg.x16}) >>> 0;
      const sums = a(${Arg.y}) >>> 0;
      const K = a(${Arg.inFeatures});
      const codeScale = f32[base + ${Arg.codeScale}];
      // Each claimed segment's sum starts from zero in its own slot (threaded-transposed.ts adds them in order).
      const slotBytes = rows * K * 4;
      let bad = 0;
      for (let c = claim(); c < count && !bad; c = claim()) {
        const start = first + c * size;
        const slot = sums + c * slotBytes;
        new Float32Array(memory.buffer, slot, rows * K).fill(0);
        bad = kernels.transposedFixed16Rows(dy, rows, tables, codeScale, slot, work, start, Math.min(N, start + size));
      }
      i32[base + ${Arg.result}] = bad;
    }
    Atomics.store(i32, base, ${DONE});
  } catch (err) {
    errors.postMessage(String((err && err.message) || err));
    Atomics.store(i32, base, ${FAILED});
  }
  Atomics.notify(i32, base);
}
`;
