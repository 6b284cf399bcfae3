import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file is tools/package-check/src/workspace.ts). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

export interface PackageJson {
  name: string;
  version: string;
  private?: boolean;
  type?: string;
  sideEffects?: boolean | string[];
  exports?: Record<string, string | Record<string, string>>;
  files?: string[];
  engines?: Record<string, string>;
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  keywords?: string[];
  /** Commands the package installs (`@peft/cli`: `peft`). */
  bin?: Record<string, string>;
  repository?: { type: string; url: string; directory?: string };
  /** pnpm replaces `exports` with `publishConfig.exports` when it packs (workspace-only subpaths). */
  publishConfig?: { exports?: Record<string, string | Record<string, string>> };
}

export interface WorkspacePackage {
  readonly name: string;
  /** Absolute folder. */
  readonly dir: string;
  /** Folder relative to the repository root, e.g. "packages/vera". */
  readonly relativeDir: string;
  readonly manifest: PackageJson;
}

export function readJson<T>(path: string): T {
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}

/** Where publishable packages live: the libraries, then the applications (only `@peft/cli` is public). */
const PACKAGE_FOLDERS = ['packages', 'apps'] as const;

/** Every publishable (non-private) package under packages/ and apps/, in folder order. */
export function publishablePackages(root = REPO_ROOT): WorkspacePackage[] {
  return PACKAGE_FOLDERS.flatMap((top) =>
    readdirSync(join(root, top), { withFileTypes: true })
      .filter((entry) => entry.isDirectory() && existsSync(join(root, top, entry.name, 'package.json')))
      .map((entry) => {
        const relativeDir = `${top}/${entry.name}`;
        const dir = join(root, relativeDir);
        return { dir, relativeDir, manifest: readJson<PackageJson>(join(dir, 'package.json')) };
      }),
  )
    .filter(({ manifest }) => manifest.private !== true)
    .map(({ dir, relativeDir, manifest }) => ({ name: manifest.name, dir, relativeDir, manifest }));
}

/**
 * A package that installs a command (`bin`) is an application: it depends on TensorFlow.js itself
 * instead of asking its user for the peer, and its README opens with a shell snippet, not code.
 */
export function isCommand(manifest: PackageJson): boolean {
  return Object.keys(manifest.bin ?? {}).length > 0;
}

/** "@peft/quant-bnb4" -> "quant-bnb4": the unscoped name, used for aliases and folder names. */
export function unscoped(name: string): string {
  return name.slice(name.indexOf('/') + 1);
}
