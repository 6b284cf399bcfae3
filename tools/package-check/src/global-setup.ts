// Packs every publishable package and installs the tarballs into one fresh project outside the
// workspace, once for all spec files (they read the paths through vitest's inject()).
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import { installTarballs } from './installed-project.js';
import { type PackedPackage, packPackages } from './pack.js';
import { publishablePackages } from './workspace.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Folder of the application that installed the tarballs. */
    installedProject: string;
    /** Every packed package, by name. */
    packed: Record<string, PackedPackage>;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const root = await mkdtemp(join(tmpdir(), 'peft-package-check-'));
  const started = performance.now();
  const packed = await packPackages(publishablePackages(), join(root, 'tarballs'));
  const packedMs = performance.now() - started;
  const app = join(root, 'app');
  await installTarballs(app, packed);
  // Probe scripts run inside the application, so they resolve packages exactly as it does.
  await cp(join(dirname(fileURLToPath(import.meta.url)), 'project-files'), join(app, 'probes'), {
    recursive: true,
  });
  console.log(
    `package-check: packed ${packed.size} packages in ${(packedMs / 1000).toFixed(1)} s, installed them in ` +
      `${((performance.now() - started - packedMs) / 1000).toFixed(1)} s (${app})`,
  );
  project.provide('installedProject', app);
  project.provide('packed', Object.fromEntries(packed));
  return async () => {
    if (process.env['PEFT_KEEP_PACKAGE_CHECK'] !== '1') await rm(root, { recursive: true, force: true });
  };
}
