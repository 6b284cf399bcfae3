import { type BackendChoice, type BackendName, type SetupBackendOptions, setupBackend } from '@peft/backends';
import * as tf from '@tensorflow/tfjs-core';

/**
 * Where a run computes, and where it does the work that reads tensors synchronously (quantizing the
 * loaded weights, writing the adapter files). They differ only on WebGPU: tfjs' WebGPU `dataSync` goes
 * through a canvas, which stalls the GPU everywhere and, in headless Chromium on SwiftShader, returns
 * zeros and loses the device. Tensors move between the two lazily (tfjs moves a tensor's data to the
 * active backend on first use).
 */
export interface BackendPlan {
  compute: BackendName;
  host: BackendName;
  /** Why `compute` was chosen (from `setupBackend`). */
  reason: string;
}

export async function planBackends(
  choice: BackendChoice,
  options: SetupBackendOptions = {},
): Promise<BackendPlan> {
  const { backend, reason } = await setupBackend(choice, options);
  if (backend !== 'webgpu') return { compute: backend, host: backend, reason };
  try {
    await setupBackend('wasm', options);
    return { compute: backend, host: 'wasm', reason };
  } catch {
    await setupBackend('cpu');
    return { compute: backend, host: 'cpu', reason };
  }
}

/** Makes `name` the active backend (both were set up by `planBackends`). */
export async function activate(name: BackendName): Promise<void> {
  if (tf.getBackend() !== name) await tf.setBackend(name);
}

/**
 * Reads every tensor once, asynchronously: the WebGPU backend keeps what it read on the CPU, so a later
 * move to the host backend (and any `dataSync` there) needs no synchronous GPU read.
 */
export async function fetchToHost(tensors: readonly tf.Tensor[]): Promise<void> {
  await Promise.all(tensors.map((t) => t.data()));
}
