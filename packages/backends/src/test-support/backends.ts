import * as tf from '@tensorflow/tfjs-core';
import { type BackendName, setupBackend } from '../setup/setup-backend.js';

/** Switches the tests to a backend through the package's own setup (kernels + gradients registered). */
export async function useBackend(name: BackendName): Promise<typeof tf> {
  await setupBackend(name);
  return tf;
}

/** The backends a Node test process can run. */
export const NODE_BACKENDS: BackendName[] = ['cpu', 'wasm'];
