// Runs in headless Chromium with SwiftShader's WebGPU adapter (see ../setup/setup-backend.browser.spec.ts):
// what `auto` picks there, and what asking for webgpu by name gives.
import * as tf from '@tensorflow/tfjs-core';
import { setupBackend } from '../setup/setup-backend.js';

export interface SetupReport {
  auto: { backend: string; reason: string; active: string };
  named: { backend: string; reason: string; active: string; sum: number };
}

export default async function run(): Promise<SetupReport> {
  const wasmPaths = new URL('/tfjs-wasm/', location.href).href;
  const auto = await setupBackend('auto', { wasmPaths });
  const autoActive = tf.getBackend();
  const named = await setupBackend('webgpu', { wasmPaths });
  const sum = tf.sum(tf.tensor1d([1, 2, 3.5]));
  const value = (await sum.data())[0]!;
  sum.dispose();
  return {
    auto: { backend: auto.backend, reason: auto.reason, active: autoActive },
    named: { backend: named.backend, reason: named.reason, active: tf.getBackend(), sum: value },
  };
}
