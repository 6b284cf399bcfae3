import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import type { InlineConfig } from 'vite';
import { bundleEntry } from './bundle.js';
import { chromiumArgs, DEFAULT_CHROMIUM, findChromium, INSTALL_HINT } from './chromium.js';
import { type StaticRoutes, serveStatic } from './serve.js';

export interface BrowserRunOptions {
  /** Absolute path of the entry module: `export default async function (): Promise<JSON-serialisable>`. */
  entry: string;
  /** Extra URL prefix -> directory routes served next to the page (e.g. TensorFlow.js' .wasm files). */
  staticRoutes?: StaticRoutes;
  /** Start Chromium with WebGPU enabled (SwiftShader when headless). Default true. */
  webgpu?: boolean;
  /** How long the entry may run, in ms. Default 120 000. */
  timeoutMs?: number;
  /** Merged into the Vite build config (define, resolve aliases, ...). */
  vite?: InlineConfig;
  /** Chromium binary; default PEFT_CHROMIUM or /usr/bin/chromium. */
  executablePath?: string;
}

export interface BrowserRunResult<T> {
  value: T;
  /** Everything the page printed to its console, as "type: text" lines. */
  console: string[];
}

export class BrowserTestError extends Error {
  constructor(
    message: string,
    readonly console: string[] = [],
  ) {
    super(console.length > 0 ? `${message}\n--- page console ---\n${console.join('\n')}` : message);
    this.name = 'BrowserTestError';
  }
}

/**
 * Bundles the entry with Vite, serves it on 127.0.0.1, runs it in a fresh headless Chromium profile and returns
 * what the entry resolved to. An entry that throws, or a page that crashes, rejects with its message and console.
 */
export async function runInBrowser<T>(options: BrowserRunOptions): Promise<BrowserRunResult<T>> {
  const executablePath = options.executablePath ?? findChromium();
  if (!executablePath) throw new BrowserTestError(`no Chromium at ${DEFAULT_CHROMIUM}; ${INSTALL_HINT}`);
  const workDir = await mkdtemp(join(tmpdir(), 'peft-browser-test-'));
  const lines: string[] = [];
  try {
    const outDir = await bundleEntry(options.entry, workDir, options.vite);
    const server = await serveStatic({ ...options.staticRoutes, '/': outDir });
    const browser = await chromium.launch({
      executablePath,
      headless: true,
      args: chromiumArgs(options.webgpu ?? true),
    });
    try {
      const context = await browser.newContext();
      const page = await context.newPage();
      page.on('console', (message) => lines.push(`${message.type()}: ${message.text()}`));
      page.on('pageerror', (error) => lines.push(`pageerror: ${error.message}`));
      await page.goto(server.url);
      const outcome = (await page.evaluate(
        (timeoutMs) =>
          Promise.race([
            (window as unknown as { __browserTestResult: Promise<unknown> }).__browserTestResult,
            new Promise((resolve) =>
              setTimeout(() => resolve({ ok: false, error: `timed out after ${timeoutMs} ms` }), timeoutMs),
            ),
          ]),
        options.timeoutMs ?? 120_000,
      )) as { ok: true; value: T } | { ok: false; error: string };
      if (!outcome.ok) throw new BrowserTestError(`browser entry failed: ${outcome.error}`, lines);
      return { value: outcome.value, console: lines };
    } finally {
      await browser.close();
      await server.close();
    }
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}
