// Imports one module specifier (argv[2]) in a fresh process and reports what the import did:
// how long it took, whether a TensorFlow.js backend was registered or initialised, tensors and
// kernels created, and what landed in peft.js' global registries.
const specifier = process.argv[2];
const started = performance.now();
await import(specifier);
const importMs = performance.now() - started;

const tf = await import('@tensorflow/tfjs-core');
// Reading engine fields directly: tf.memory() or tf.getBackend() would initialise a backend themselves.
const engine = tf.engine();
const registries = {};
for (const symbol of Object.getOwnPropertySymbols(globalThis)) {
  const key = Symbol.keyFor(symbol);
  if (key?.startsWith('@peft/registry/'))
    registries[key.slice('@peft/registry/'.length)] = [...globalThis[symbol].keys()];
}
const kernels = {};
for (const backend of ['cpu', 'wasm', 'webgpu']) kernels[backend] = tf.getKernelsForBackend(backend).length;
console.log(
  JSON.stringify({
    importMs,
    backendFactories: Object.keys(engine.registryFactory),
    backendInitialised: engine.backendInstance != null,
    numTensors: engine.state.numTensors,
    kernels,
    registries,
  }),
);
