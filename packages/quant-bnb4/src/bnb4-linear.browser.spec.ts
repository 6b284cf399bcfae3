import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromiumForTests, runInBrowser } from '@peft/browser-test';
import { describe, expect, it } from 'vitest';
import type { BrowserReport } from './test-support/browser-entry.js';

const here = dirname(fileURLToPath(import.meta.url));
const chromium = chromiumForTests('@peft/quant-bnb4 Bnb4Linear in Chromium');

describe.skipIf(!chromium)('Bnb4Linear in headless Chromium on WebGPU (SwiftShader)', () => {
  it('quantizes in the page; forward and input gradient agree with dequantize + matmul; nothing leaks', async () => {
    const { value: report } = await runInBrowser<BrowserReport>({
      entry: join(here, 'test-support', 'browser-entry.ts'),
      timeoutMs: 180_000,
    });
    expect(report.backend).toBe('webgpu');
    expect(report.checks).toHaveLength(6);
    for (const check of report.checks) expect(check.worstRatio, check.name).toBeLessThan(1);
    expect(report.leakedTensors).toBe(0);
  }, 240_000);
});
