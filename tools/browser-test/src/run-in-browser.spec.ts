import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumForTests } from './chromium.js';
import { BrowserTestError, runInBrowser } from './run-in-browser.js';
import { serveStatic } from './serve.js';

const here = dirname(fileURLToPath(import.meta.url));
const chromium = chromiumForTests('@peft/browser-test');

describe.skipIf(!chromium)('runInBrowser', () => {
  it('bundles the entry, runs it on a secure origin with a WebGPU adapter and returns its result and console', async () => {
    const { value, console: lines } = await runInBrowser<{
      secure: boolean;
      adapter: string | null;
      fallback: boolean | null;
      answer: number;
    }>({
      entry: join(here, 'test-support', 'ok-entry.ts'),
    });
    expect(value.answer).toBe(42);
    expect(value.secure).toBe(true);
    expect(value.adapter).toBe('swiftshader');
    // Chromium marks SwiftShader as a fallback (software) adapter, which setupBackend('auto') passes over.
    expect(value.fallback).toBe(true);
    expect(lines).toContain('log: hello from the page');
  });

  it('rejects with the page error when the entry throws', async () => {
    const run = runInBrowser({ entry: join(here, 'test-support', 'failing-entry.ts'), webgpu: false });
    await expect(run).rejects.toBeInstanceOf(BrowserTestError);
    await expect(
      runInBrowser({ entry: join(here, 'test-support', 'failing-entry.ts'), webgpu: false }),
    ).rejects.toThrow(/deliberate failure inside the page/);
  });
});

describe('serveStatic', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'serve-static-'));
    await writeFile(join(dir, 'a.wasm'), new Uint8Array([0, 97, 115, 109]));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('serves files under a prefix with their content type and refuses paths that leave the directory', async () => {
    const server = await serveStatic({ '/files/': dir });
    try {
      const ok = await fetch(`${server.url}files/a.wasm`);
      expect(ok.status).toBe(200);
      expect(ok.headers.get('content-type')).toBe('application/wasm');
      expect(new Uint8Array(await ok.arrayBuffer())).toEqual(new Uint8Array([0, 97, 115, 109]));
      expect((await fetch(`${server.url}files/..%2F..%2Fetc%2Fpasswd`)).status).toBe(404);
      expect((await fetch(`${server.url}files/missing.js`)).status).toBe(404);
    } finally {
      await server.close();
    }
  });
});
