// Tests run on TensorFlow.js' plain cpu backend (no dependency on @peft/backends).
import '@tensorflow/tfjs-backend-cpu';
// Gradients are registered by a side-effect module of tfjs-core (the `@tensorflow/tfjs` bundle does this).
import '@tensorflow/tfjs-core/dist/register_all_gradients.js';
import * as tf from '@tensorflow/tfjs-core';

export async function useCpuBackend(): Promise<typeof tf> {
  await tf.setBackend('cpu');
  await tf.ready();
  return tf;
}
