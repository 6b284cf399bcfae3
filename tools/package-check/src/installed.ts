import { join } from 'node:path';
import { inject } from 'vitest';
import type { PackedPackage } from './pack.js';
import type { PackageJson } from './workspace.js';
import { readJson } from './workspace.js';

/** The application folder that installed every tarball (see global-setup.ts). */
export function installedProject(): string {
  return inject('installedProject');
}

export function packedPackages(): PackedPackage[] {
  return Object.values(inject('packed'));
}

/** Where npm put a package in the application: the tarball's contents, unpacked. */
export function installedDir(name: string): string {
  return join(installedProject(), 'node_modules', ...name.split('/'));
}

export function installedManifest(name: string): PackageJson {
  return readJson<PackageJson>(join(installedDir(name), 'package.json'));
}

export function probe(file: string): string {
  return join(installedProject(), 'probes', file);
}
