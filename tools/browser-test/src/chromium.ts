import { existsSync } from 'node:fs';

/** Debian's Chromium; PEFT_CHROMIUM overrides it. Never a downloaded browser. */
export const DEFAULT_CHROMIUM = '/usr/bin/chromium';

export const INSTALL_HINT =
  'install Debian Chromium with `apt-get update && apt-get install -y chromium` (or point PEFT_CHROMIUM at a Chromium binary)';

export function findChromium(): string | null {
  const path = process.env['PEFT_CHROMIUM'] || DEFAULT_CHROMIUM;
  return existsSync(path) ? path : null;
}

/**
 * The Chromium to run browser tests with, or null when there is none and the tests should be skipped: then it
 * prints a loud warning saying how to install it. Under CI=true a missing Chromium is an error instead, so CI
 * cannot pass without running the browser tests.
 */
export function chromiumForTests(suite: string): string | null {
  const path = findChromium();
  if (path) return path;
  const message = `${suite}: no Chromium at ${process.env['PEFT_CHROMIUM'] || DEFAULT_CHROMIUM}; ${INSTALL_HINT}`;
  if (process.env['CI'] === 'true') throw new Error(message);
  console.warn(`\n${'!'.repeat(100)}\nSKIPPING BROWSER TESTS. ${message}\n${'!'.repeat(100)}\n`);
  return null;
}

/**
 * Flags for a quiet, isolated headless Chromium. WebGPU needs a secure context (the harness serves on 127.0.0.1)
 * and --enable-unsafe-webgpu on Linux; headless it then gets Google's SwiftShader adapter (CPU, slow, correct),
 * which Chromium reports as a fallback adapter (`adapter.info.isFallbackAdapter`, architecture "swiftshader"):
 * `setupBackend('auto')` takes wasm there, so a test that wants WebGPU asks for it by name.
 */
export function chromiumArgs(webgpu: boolean): string[] {
  return [
    '--no-sandbox',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--disable-default-apps',
    '--disable-extensions',
    '--no-first-run',
    '--disable-quic',
    '--mute-audio',
    ...(webgpu ? ['--enable-unsafe-webgpu', '--use-webgpu-adapter=swiftshader'] : []),
  ];
}
