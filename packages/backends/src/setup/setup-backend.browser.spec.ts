import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromiumForTests, runInBrowser } from '@peft/browser-test';
import { describe, expect, it } from 'vitest';
import type { SetupReport } from '../test-support/setup-entry.js';

const here = dirname(fileURLToPath(import.meta.url));
const wasmDist = join(
  dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm/package.json')),
  'dist',
);
const chromium = chromiumForTests('@peft/backends setupBackend in Chromium');

describe.skipIf(!chromium)('setupBackend in headless Chromium with a SwiftShader WebGPU adapter', () => {
  it('auto passes over the software adapter for wasm and says why; "webgpu" by name still runs on it', async () => {
    const { value } = await runInBrowser<SetupReport>({
      entry: join(here, '..', 'test-support', 'setup-entry.ts'),
      staticRoutes: { '/tfjs-wasm/': wasmDist },
      timeoutMs: 120_000,
    });
    expect(value.auto.backend).toBe('wasm');
    expect(value.auto.active).toBe('wasm');
    expect(value.auto.reason).toBe(
      'auto: wasm with SIMD (webgpu: the WebGPU adapter is a software fallback: SwiftShader; ask for "webgpu" by name to use it)',
    );
    expect(value.named).toEqual({
      backend: 'webgpu',
      reason: 'requested "webgpu"',
      active: 'webgpu',
      sum: 6.5,
    });
  }, 180_000);
});
