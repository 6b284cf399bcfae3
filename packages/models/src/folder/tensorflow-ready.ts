import { ConfigError } from '@peft/core';
import * as tf from '@tensorflow/tfjs-core';

/**
 * Waits for the application's TensorFlow.js backend (quantizers and linear formats work on layers,
 * which hold tensors). Without one, a clear error instead of tfjs' own deep inside a quantizer.
 */
export async function requireTensorflowBackend(what: string): Promise<void> {
  if (Object.keys(tf.engine().registryFactory).length === 0) {
    throw new ConfigError(
      `${what} needs a TensorFlow.js backend and none is registered; call setupBackend() from @peft/backends ` +
        "(or import '@tensorflow/tfjs-backend-cpu') first",
    );
  }
  await tf.ready();
}
