import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromiumForTests, runInBrowser } from '@peft/browser-test';
import { describe, expect, it } from 'vitest';
import type { BackendReport } from './test-support/browser-entry.js';

const here = dirname(fileURLToPath(import.meta.url));
const wasmDist = join(
  dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm/package.json')),
  'dist',
);
const chromium = chromiumForTests('@peft/backends kernels in Chromium');

describe.skipIf(!chromium)('kernels in headless Chromium (webgpu on SwiftShader, wasm)', () => {
  it('agree with the references on both backends, forward and backward, without leaking tensors', async () => {
    const { value: reports } = await runInBrowser<BackendReport[]>({
      entry: join(here, 'test-support', 'browser-entry.ts'),
      staticRoutes: { '/tfjs-wasm/': wasmDist },
      timeoutMs: 240_000,
    });
    expect(reports.map((r) => r.backend)).toEqual(['webgpu', 'wasm']);
    const wasm = reports.find((r) => r.backend === 'wasm')!;
    expect(wasm.simdModule, 'the wasm SIMD module links to the tfjs heap in Chromium').toBe(true);
    expect(
      wasm.simdBuild,
      'Chromium has relaxed SIMD, so its build runs (and passes every check below)',
    ).toBe('relaxed');
    for (const report of reports) {
      expect(report.checks.length).toBeGreaterThan(50);
      const failed = report.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`);
      expect(failed, `${report.backend} (${report.reason})`).toEqual([]);
    }
  }, 300_000);
});
