// TensorFlow.js fetches its wasm binaries at run time; importing them with `?url` makes Vite ship them.
import plain from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import simd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import threadedSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';

/** File name -> absolute URL, as `setupBackend(..., { wasmPaths })` (tfjs' `setWasmPaths`) takes it. */
export function tfjsWasmUrls(base: string): Record<string, string> {
  const at = (url: string) => new URL(url, base).href;
  return {
    'tfjs-backend-wasm.wasm': at(plain),
    'tfjs-backend-wasm-simd.wasm': at(simd),
    'tfjs-backend-wasm-threaded-simd.wasm': at(threadedSimd),
  };
}
