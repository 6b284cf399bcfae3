// Public surface of @peft/browser-test.

export { bundleEntry } from './bundle.js';
export { chromiumArgs, chromiumForTests, DEFAULT_CHROMIUM, findChromium, INSTALL_HINT } from './chromium.js';
export {
  type BrowserRunOptions,
  type BrowserRunResult,
  BrowserTestError,
  runInBrowser,
} from './run-in-browser.js';
export { type StaticRoutes, serveStatic } from './serve.js';
