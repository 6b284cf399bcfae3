import { mustRun } from './run.js';
import type { WorkspacePackage } from './workspace.js';

export interface PackedPackage {
  readonly name: string;
  readonly version: string;
  /** Absolute path of the .tgz. */
  readonly tarball: string;
  /** Paths inside the tarball, relative to its package/ folder. */
  readonly files: readonly string[];
}

/**
 * `pnpm pack` for each package into `destination`: exactly what `pnpm publish` would upload, with
 * `workspace:` ranges rewritten to real versions. Sequential: pnpm pack is quick and CI has 2 cores.
 */
export async function packPackages(
  packages: readonly WorkspacePackage[],
  destination: string,
): Promise<Map<string, PackedPackage>> {
  const packed = new Map<string, PackedPackage>();
  for (const pkg of packages) {
    const { stdout } = await mustRun('pnpm', ['pack', '--json', '--pack-destination', destination], {
      cwd: pkg.dir,
    });
    const report = JSON.parse(stdout) as {
      name: string;
      version: string;
      filename: string;
      files: { path: string }[];
    };
    packed.set(report.name, {
      name: report.name,
      version: report.version,
      tarball: report.filename,
      files: report.files.map((f) => f.path),
    });
  }
  return packed;
}
