import { Arg, DONE, EXIT, FAILED, POSTED } from './job-slots.js';

// The code each kernel thread runs, as a string: Node starts it with `new Worker(source, { eval: true })`, so it
// needs no file of its own and survives bundling. It links the shared-memory build of the kernels' module to the
// shared arena, then waits on its slot: run the posted matmul rows, mark the slot done, wait again.
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
    kernels.bindWeights(
      a(${Arg.packed}) >>> 0, a(${Arg.absmax}) >>> 0, a(${Arg.nested}), a(${Arg.nestedAbsmax}) >>> 0,
      a(${Arg.nestedCode}) >>> 0, a(${Arg.nestedBlocksize}), f32[base + ${Arg.offset}], a(${Arg.code}) >>> 0,
      a(${Arg.blocksizeLog2}), a(${Arg.outFeatures}), a(${Arg.inFeatures}),
    );
    kernels.matmulFixed16(
      a(${Arg.x16}) >>> 0, a(${Arg.scales}) >>> 0, a(${Arg.rows}), a(${Arg.tables}) >>> 0, a(${Arg.y}) >>> 0,
      a(${Arg.work}) >>> 0, a(${Arg.nStart}), a(${Arg.nEnd}),
    );
    Atomics.store(i32, base, ${DONE});
  } catch (err) {
    errors.postMessage(String((err && err.message) || err));
    Atomics.store(i32, base, ${FAILED});
  }
  Atomics.notify(i32, base);
}
`;
