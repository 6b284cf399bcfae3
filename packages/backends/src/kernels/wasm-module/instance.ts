import type { WasmBackendLike } from '../backend-access.js';
import { type SimdBuild, simdModuleBytes } from './module-bytes.js';

/** The exports of assembly/bnb4.ts (the module entry). Pointers are byte offsets in TensorFlow.js' wasm heap. */
export interface Bnb4SimdExports {
  bindWeights(
    packed: number,
    absmax: number,
    nested: number,
    nestedAbsmax: number,
    nestedCode: number,
    nestedBlocksize: number,
    offset: number,
    code: number,
    blocksizeLog2: number,
    outFeatures: number,
    inFeatures: number,
  ): void;
  dequantizeRange(start: number, end: number, pairTable: number, out: number): void;
  matmulExact(x: number, rows: number, y: number, rowBuf: number, pairTable: number): void;
  matmulTransposed(dy: number, rows: number, dx: number, rowBuf: number, pairTable: number): void;
  quantizeActivations(
    x: number,
    rows: number,
    K: number,
    x16: number,
    scales: number,
    codeScale: number,
  ): number;
  fixed16WorkBytes(rows: number, K: number): number;
  matmulFixed16(
    x16: number,
    scales: number,
    rows: number,
    tables: number,
    y: number,
    work: number,
    nStart: number,
    nEnd: number,
  ): void;
  transposedWorkBytes(rows: number): number;
  transposedFixed16Rows(
    dy: number,
    rows: number,
    tables: number,
    codeScale: number,
    sums: number,
    work: number,
    nStart: number,
    nEnd: number,
  ): number;
  unpermuteSums(sums: number, count: number): void;
  transposedFixed16(
    dy: number,
    rows: number,
    tables: number,
    codeScale: number,
    dx: number,
    work: number,
  ): number;
  /** assembly/dense.ts: out[c] = Σ_r x[r, c] for x [R, C], in increasing r. */
  columnSums(x: number, R: number, C: number, out: number): void;
  /** assembly/dense.ts: y[:, n0..n1) = x·Wᵀ for x [M, K], W [N, K], y [M, ldy]. */
  denseNT(x: number, w: number, y: number, M: number, K: number, ldy: number, n0: number, n1: number): void;
  /** assembly/dense.ts: y[:, c0..c1) (+)= x·W for x [M, K] (rows ldx apart), W [K, N], y [M, N]. */
  denseNN(
    x: number,
    ldx: number,
    w: number,
    y: number,
    M: number,
    K: number,
    N: number,
    c0: number,
    c1: number,
    accumulate: number,
  ): void;
}

interface Linked {
  exports: Bnb4SimdExports;
  build: SimdBuild;
}

// One instance per tfjs wasm backend (each backend has its own heap); null records "cannot link to its memory".
let instances = new WeakMap<object, Linked | null>();
let compiled: { module: WebAssembly.Module; build: SimdBuild } | null = null;

/**
 * TensorFlow.js' WebAssembly.Memory, found among the Emscripten module's exports. Null when the heap is a
 * SharedArrayBuffer (the multi-threaded build): the module is compiled for an unshared memory.
 */
function tfjsMemory(backend: WasmBackendLike): WebAssembly.Memory | null {
  const exports = backend.wasm.asm;
  if (!exports) return null;
  for (const value of Object.values(exports)) {
    if (value instanceof WebAssembly.Memory && value.buffer === backend.wasm.HEAPU8.buffer) {
      return value.buffer instanceof ArrayBuffer ? value : null;
    }
  }
  return null;
}

/** Compiles the module (once) off the main thread and links it to this backend; setupBackend awaits it. */
export async function prepareBnb4Simd(backend: WasmBackendLike): Promise<boolean> {
  if (!compiled && tfjsMemory(backend)) {
    const { build, bytes } = simdModuleBytes(false);
    try {
      compiled = { module: await WebAssembly.compile(bytes as BufferSource), build };
    } catch {
      // No wasm SIMD in this engine: linked() records that, and the typed-array kernels take over.
    }
  }
  return linked(backend) !== null;
}

/** This backend's link, made on first use (compiling synchronously if prepareBnb4Simd did not run). */
function linked(backend: WasmBackendLike): Linked | null {
  const known = instances.get(backend);
  if (known !== undefined) return known;
  const memory = tfjsMemory(backend);
  let result: Linked | null = null;
  if (memory) {
    try {
      if (!compiled) {
        const { build, bytes } = simdModuleBytes(false);
        compiled = { module: new WebAssembly.Module(bytes as BufferSource), build };
      }
      const instance = new WebAssembly.Instance(compiled.module, { env: { memory } });
      result = { exports: instance.exports as unknown as Bnb4SimdExports, build: compiled.build };
    } catch {
      result = null;
    }
  }
  instances.set(backend, result);
  return result;
}

/**
 * The module linked to this backend's memory, or null (the caller then runs the typed-array kernel on the heap).
 * Links synchronously if setupBackend did not (e.g. the app called tf.setBackend('wasm') itself).
 */
export function bnb4Simd(backend: WasmBackendLike): Bnb4SimdExports | null {
  return linked(backend)?.exports ?? null;
}

/** Which build of the module this backend runs, or null when none links (typed-array kernels). */
export function bnb4SimdBuild(backend: WasmBackendLike): SimdBuild | null {
  return linked(backend)?.build ?? null;
}

/**
 * Forgets the compiled module and every link, so the next kernel call picks the build again. For when the
 * engine's wasm features change at run time (V8's `--experimental-wasm-relaxed-simd` set from
 * `v8.setFlagsFromString`, as the tests do); apps never need it.
 */
export function relinkBnb4Simd(): void {
  compiled = null;
  instances = new WeakMap();
}
