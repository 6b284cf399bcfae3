// The installed tarballs bundled by Vite into a page and run in headless Chromium (WebGPU on
// SwiftShader): a 4-bit layer with a VeRA adapter, forward pass checked in the page.
import { join } from 'node:path';
import { chromiumForTests, runInBrowser } from '@peft/browser-test';
import { describe, expect, it } from 'vitest';
import { installedProject } from './installed.js';
import type { PageReport } from './project-files/browser-page.js';

const chromium = chromiumForTests('@peft/package-check installed packages in Chromium');

describe.skipIf(!chromium)('the installed packages in a Vite-built page', () => {
  it('run an NF4 layer with a VeRA adapter on WebGPU, matching dequantized W + ΔW', async () => {
    const { value } = await runInBrowser<PageReport>({
      entry: join(installedProject(), 'probes', 'browser-page.ts'),
      timeoutMs: 180_000,
    });
    expect(value.backend).toBe('webgpu');
    expect(value.peftTypes).toEqual(['VERA']);
    expect(value.scheme).toBe('bnb4-nf4');
    expect(value.outputShape).toEqual([3, 24]);
    expect(value.relativeError).toBeLessThan(1e-5);
    expect(value.adapterChangesOutput).toBe(true);
    expect(value.leakedTensors).toBe(0);
  }, 240_000);
});
