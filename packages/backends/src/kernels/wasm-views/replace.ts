import {
  getKernel,
  type KernelConfig,
  type KernelFunc,
  registerKernel,
  unregisterKernel,
} from '@tensorflow/tfjs-core';

/** Kernel functions made by this package, so a second call does not wrap its own replacement. */
const ours = new WeakSet<KernelFunc>();
/** tfjs-backend-wasm's own kernel functions, by kernel name, as found when each was first replaced. */
const stockKernels = new Map<string, KernelFunc>();

/**
 * Replaces tfjs-backend-wasm's kernel `kernelName` with `make(stock)`, where `stock` is the kernel registered now
 * (for the cases the replacement hands back to it), unless the registered one is already ours.
 */
export function replaceWasmKernel(kernelName: string, make: (stock: KernelFunc | null) => KernelFunc): void {
  const registered = getKernel(kernelName, 'wasm');
  if (registered && ours.has(registered.kernelFunc)) return;
  if (registered) stockKernels.set(kernelName, registered.kernelFunc);
  const kernelFunc = make(registered?.kernelFunc ?? null);
  ours.add(kernelFunc);
  const config: KernelConfig = { kernelName, backendName: 'wasm', kernelFunc };
  if (registered) unregisterKernel(kernelName, 'wasm');
  registerKernel(config);
}

/** Whether the wasm kernel registered now under `kernelName` is this package's replacement. */
export function isReplacedWasmKernel(kernelName: string): boolean {
  const registered = getKernel(kernelName, 'wasm');
  return registered !== undefined && ours.has(registered.kernelFunc);
}

/** Puts tfjs-backend-wasm's own kernel back under `kernelName` where this package replaced it. */
export function restoreWasmKernel(kernelName: string): void {
  const stock = stockKernels.get(kernelName);
  const registered = getKernel(kernelName, 'wasm');
  if (!stock || !registered || !ours.has(registered.kernelFunc)) return;
  unregisterKernel(kernelName, 'wasm');
  registerKernel({ kernelName, backendName: 'wasm', kernelFunc: stock });
}
