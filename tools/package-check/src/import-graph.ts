import { readFile } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import { dirname, resolve } from 'node:path';
import { init, parse } from 'es-module-lexer';

export interface ImportSite {
  /** Absolute path of the importing file. */
  readonly file: string;
  readonly specifier: string;
  readonly dynamic: boolean;
}

const BUILTINS = new Set(builtinModules);

export function isNodeBuiltin(specifier: string): boolean {
  return specifier.startsWith('node:') || BUILTINS.has(specifier.split('/')[0]!);
}

export function isBare(specifier: string): boolean {
  return !specifier.startsWith('.') && !specifier.startsWith('/') && !specifier.includes(':');
}

/** "@scope/name/sub/path" -> "@scope/name"; "name/sub" -> "name". */
export function packageNameOf(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
}

/**
 * Every import in one ES module file. Computed dynamic imports (`import(variable)`) have no
 * specifier to check and are left out: they are deliberate escapes (e.g. `node:module` loaded only
 * in Node), which a bundler does not follow either.
 */
export async function importsOf(file: string): Promise<ImportSite[]> {
  await init;
  const [imports] = parse(await readFile(file, 'utf8'), file);
  return imports
    .filter((entry) => entry.n !== undefined)
    .map((entry) => ({ file, specifier: entry.n!, dynamic: entry.d > -1 }));
}

/**
 * Follows relative imports from `entry` and returns every non-relative import reached (static and
 * literal dynamic ones), i.e. everything a bundler would have to resolve for this entry point.
 */
export async function reachableImports(entry: string): Promise<ImportSite[]> {
  const seen = new Set<string>();
  const queue = [resolve(entry)];
  const external: ImportSite[] = [];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const site of await importsOf(file)) {
      if (site.specifier.startsWith('.')) queue.push(resolve(dirname(file), site.specifier));
      else external.push(site);
    }
  }
  return external;
}
