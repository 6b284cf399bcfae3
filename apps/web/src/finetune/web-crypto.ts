import { ConfigError } from '@peft/core';

/**
 * `train()` of @peft/training hashes a run's settings with Web Crypto (`crypto.subtle`), which browsers
 * offer only in a secure context. Checked when a run starts, so a page served over plain http from
 * another host fails at once with what to do, before the model is quantized and evaluated.
 */
export function requireWebCrypto(): void {
  if (globalThis.crypto?.subtle === undefined) {
    throw new ConfigError(
      'fine-tuning needs Web Crypto (crypto.subtle), which the browser offers only in a secure context: ' +
        'open the page over https://, or from http://localhost or http://127.0.0.1',
    );
  }
}
