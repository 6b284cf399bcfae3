import * as tf from '@tensorflow/tfjs-core';
import { BackendUnavailableError } from '../errors.js';
import type { WasmBackendLike } from '../kernels/backend-access.js';
import { registerBnb4Flags } from '../kernels/bnb4-shared/flags.js';
import { prepareBnb4Simd } from '../kernels/wasm-module/instance.js';
import { kernelThreadStats, useKernelThreads } from '../kernels/wasm-threads/active-threads.js';
import { registerCpuKernels } from '../register-cpu.js';
import { registerWasmKernels } from '../register-wasm.js';
import { registerWebGpuKernels } from '../register-webgpu.js';
import { registerTfjsGradients } from './gradients.js';
import { coresAvailable, inNode, resolveKernelThreads } from './kernel-thread-limit.js';
import { type AdapterLike, softwareAdapterName } from './software-adapter.js';

export type BackendChoice = 'auto' | 'cpu' | 'wasm' | 'webgpu';
export type BackendName = 'cpu' | 'wasm' | 'webgpu';

export interface SetupBackendOptions {
  /**
   * Where the TensorFlow.js wasm binaries are served (browser pages): a folder URL ending in "/", or a map from
   * file name (`tfjs-backend-wasm-simd.wasm`, ...) to URL. Passed to tfjs' `setWasmPaths`. Node finds them itself.
   */
  wasmPaths?: string | Record<string, string>;
  /** Threads for the wasm backend's XNNPACK (only where the page is cross-origin isolated). */
  wasmThreads?: number;
  /**
   * Threads for this package's 4-bit matmuls (x·Wᵀ and dy·W) and large dense float32 products on the wasm
   * backend, the calling thread included; Node only.
   * `'auto'` takes every core Node may use. Default 1. At most the core count (`os.availableParallelism()`), or
   * 4 on machines with fewer cores; anything else throws BackendOptionError before anything starts. Workers read 4-bit weights from a copy in shared
   * memory (TensorFlow.js' own heap cannot be shared in Node) of the rows they may take: 1 - 0.8 / T of each
   * weight's packed bytes on T threads (60% on 2). See `kernelThreadStats()`.
   */
  kernelThreads?: number | 'auto';
  /**
   * Keep tfjs-backend-wasm's own Identity, Slice, Unpack, BatchMatMul and Sum kernels instead of this package's
   * replacements (`registerWasmKernels` says what each changes), e.g. to measure against them. Slower and more
   * memory; results differ from the replacements' by float32 rounding (BatchMatMul). Default false.
   */
  stockWasmKernels?: boolean;
}

export interface BackendSetup {
  backend: BackendName;
  /** Why this backend: what was found, what was missing. */
  reason: string;
  /** Threads running the 4-bit matmul on wasm (1 elsewhere, or when threads were asked for but cannot run). */
  kernelThreads: number;
  /** Why fewer kernel threads run than were asked for, if so. */
  kernelThreadsNote?: string;
}

interface GpuNavigator {
  gpu?: { requestAdapter(): Promise<AdapterLike | null> };
}

/** Why WebGPU cannot run here (null when an adapter was found), and the adapter's software name, if it is one. */
async function findWebGpuAdapter(): Promise<{ missing: string | null; software: string | null }> {
  const nav = (globalThis as { navigator?: GpuNavigator }).navigator;
  if (!nav?.gpu)
    return { missing: 'navigator.gpu is absent (no WebGPU in this environment)', software: null };
  try {
    const adapter = await nav.gpu.requestAdapter();
    if (!adapter) return { missing: 'navigator.gpu.requestAdapter() returned no adapter', software: null };
    return { missing: null, software: softwareAdapterName(adapter) };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    return { missing: `navigator.gpu.requestAdapter() failed: ${message}`, software: null };
  }
}

async function useBackend(name: BackendName): Promise<boolean> {
  try {
    return (await tf.setBackend(name)) && tf.getBackend() === name;
  } catch {
    return false;
  }
}

/**
 * `acceptSoftware: false` (auto) passes over a software adapter: SwiftShader runs shaders on the CPU, far slower
 * than the wasm backend on the same CPU.
 */
async function startWebGpu(acceptSoftware: boolean): Promise<string | null> {
  const { missing, software } = await findWebGpuAdapter();
  if (missing) return missing;
  if (software && !acceptSoftware)
    return `the WebGPU adapter is a software fallback: ${software}; ask for "webgpu" by name to use it`;
  await import('@tensorflow/tfjs-backend-webgpu');
  if (!(await useBackend('webgpu'))) return 'the tfjs webgpu backend failed to initialise';
  registerWebGpuKernels();
  return null;
}

async function startWasm(options: SetupBackendOptions): Promise<string | null> {
  if (typeof WebAssembly !== 'object') return 'WebAssembly is not available';
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  if (options.wasmPaths !== undefined) wasm.setWasmPaths(options.wasmPaths);
  if (options.wasmThreads !== undefined) wasm.setThreadsCount(options.wasmThreads);
  if (!(await useBackend('wasm')))
    return 'the tfjs wasm backend failed to initialise (are the .wasm files served? see wasmPaths)';
  registerWasmKernels({ stockKernels: options.stockWasmKernels === true });
  await prepareBnb4Simd(tf.backend() as unknown as WasmBackendLike);
  return null;
}

/** Starts or stops the kernel threads as asked (already resolved to a count); the note says why fewer run, if so. */
async function setKernelThreads(
  backend: BackendName,
  wanted: number,
): Promise<Pick<BackendSetup, 'kernelThreads' | 'kernelThreadsNote'>> {
  const threads = backend === 'wasm' ? wanted : 1;
  const problem = await useKernelThreads(threads);
  const running = kernelThreadStats().threads;
  if (problem) return { kernelThreads: running, kernelThreadsNote: problem };
  if (wanted > 1 && backend !== 'wasm')
    return {
      kernelThreads: 1,
      kernelThreadsNote: `kernel threads serve the wasm backend only, not ${backend}`,
    };
  return { kernelThreads: running };
}

async function startCpu(): Promise<string | null> {
  await import('@tensorflow/tfjs-backend-cpu');
  if (!(await useBackend('cpu'))) return 'the tfjs cpu backend failed to initialise';
  // The cpu backend prints a "use tfjs-node" banner on first use in Node; choosing cpu here is deliberate.
  (tf.backend() as unknown as { firstUse?: boolean }).firstUse = false;
  registerCpuKernels();
  return null;
}

/**
 * Sets up TensorFlow.js for this environment and registers this package's kernels for the chosen backend, plus
 * every tfjs gradient. `auto` takes webgpu when a hardware adapter exists, else wasm (SIMD), else cpu, and says why;
 * it passes over a software adapter (SwiftShader, or one the browser marks as a fallback), which `'webgpu'` by name
 * still uses.
 * An explicit choice that cannot run throws BackendUnavailableError.
 */
export async function setupBackend(
  choice: BackendChoice = 'auto',
  options: SetupBackendOptions = {},
): Promise<BackendSetup> {
  // Options are checked before anything starts: a bad one must not leave a backend half set up.
  const cores = await coresAvailable();
  const kernelThreads = resolveKernelThreads(options.kernelThreads, cores, inNode() ? cores : 1);
  await registerTfjsGradients();
  registerBnb4Flags();
  const failures: string[] = [];
  const attempt = async (name: BackendName): Promise<boolean> => {
    const problem =
      name === 'webgpu'
        ? await startWebGpu(choice !== 'auto')
        : name === 'wasm'
          ? await startWasm(options)
          : await startCpu();
    if (problem) failures.push(`${name}: ${problem}`);
    return problem === null;
  };

  const chosen = async (backend: BackendName, reason: string): Promise<BackendSetup> => ({
    backend,
    reason,
    ...(await setKernelThreads(backend, kernelThreads)),
  });
  if (choice !== 'auto') {
    if (!(await attempt(choice))) throw new BackendUnavailableError(choice, failures.join('; '));
    return chosen(choice, `requested "${choice}"`);
  }
  if (await attempt('webgpu')) return chosen('webgpu', 'auto: a WebGPU adapter is available');
  if (await attempt('wasm')) {
    const simd = (await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')) ? 'with SIMD' : 'without SIMD';
    return chosen('wasm', `auto: wasm ${simd} (${failures.join('; ')})`);
  }
  if (await attempt('cpu')) return chosen('cpu', `auto: plain JavaScript cpu (${failures.join('; ')})`);
  throw new BackendUnavailableError('auto', failures.join('; '));
}
