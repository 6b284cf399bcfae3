// The real page for the browser tests: built with Vite into a folder, served on 127.0.0.1 and opened in
// headless Debian Chromium. Each browser spec starts one and closes it in afterAll.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromiumArgs, serveStatic } from '@peft/browser-test';
import { type Browser, chromium } from 'playwright-core';
import { build } from 'vite';

const appRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface ServedPage {
  readonly url: string;
  readonly browser: Browser;
  /** Closes the browser and the server. */
  close(): Promise<void>;
}

/** Builds the app into `outDir`, serves it and launches Chromium at `executablePath`. */
export async function servePage(outDir: string, executablePath: string): Promise<ServedPage> {
  await build({
    root: appRoot,
    configFile: join(appRoot, 'vite.config.ts'),
    logLevel: 'warn',
    build: { outDir, emptyOutDir: true, reportCompressedSize: false },
  });
  const server = await serveStatic({ '/': outDir });
  try {
    const browser = await chromium.launch({ executablePath, headless: true, args: chromiumArgs(true) });
    return {
      url: server.url,
      browser,
      close: async () => {
        await browser.close();
        await server.close();
      },
    };
  } catch (error) {
    await server.close();
    throw error;
  }
}
