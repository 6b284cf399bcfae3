import { readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import * as main from '../index.js';
import * as node from '../node.js';

const src = join(dirname(fileURLToPath(import.meta.url)), '..');
const nodeBuiltins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

/** Every module reachable from `entry` through static imports and re-exports, with its bare imports. */
function importGraph(entry: string): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  const visit = (file: string): void => {
    if (graph.has(file)) return;
    const text = readFileSync(file, 'utf8');
    const specifiers = [...text.matchAll(/(?:^|\n)\s*(?:import|export)[^'"]*?from\s+['"]([^'"]+)['"]/g)].map(
      (m) => m[1]!,
    );
    const sideEffects = [...text.matchAll(/(?:^|\n)\s*import\s+['"]([^'"]+)['"]/g)].map((m) => m[1]!);
    const all = [...specifiers, ...sideEffects];
    graph.set(
      file,
      all.filter((s) => !s.startsWith('.')),
    );
    for (const s of all.filter((s) => s.startsWith('.')))
      visit(join(dirname(file), s.replace(/\.js$/, '.ts')));
  };
  visit(join(src, entry));
  return graph;
}

describe('entry points', () => {
  it('the main entry reaches no Node built-in module, so it bundles for browsers', () => {
    const graph = importGraph('index.ts');
    expect(graph.has(join(src, 'safetensors', 'parse.ts'))).toBe(true); // the walk does follow re-exports
    const offenders = [...graph].flatMap(([file, bare]) =>
      bare.filter((s) => nodeBuiltins.has(s)).map((s) => `${relative(src, file)} imports ${s}`),
    );
    expect(offenders).toEqual([]);
  });

  it('the node entry does use Node file I/O (the check above would notice it)', () => {
    const bare = [...importGraph('node.ts').values()].flat();
    expect(bare).toContain('node:fs/promises');
  });

  it('exposes the safetensors API on the right entry points', () => {
    for (const name of [
      'parseSafetensors',
      'openSafetensorsBlob',
      'serializeSafetensors',
      'SafetensorsError',
    ]) {
      expect(typeof (main as Record<string, unknown>)[name]).toBe('function');
    }
    expect(main.MAX_HEADER_BYTES).toBe(100_000_000);
    for (const name of [
      'openSafetensorsFile',
      'openCheckpoint',
      'writeSafetensorsFile',
      'writeFileAtomic',
      'writeFolderAtomically',
      'removeStaleWrites',
      'assertOutputOutsideInputs',
      'toFileSystemError',
      'FileSystemError',
    ]) {
      expect(typeof (node as Record<string, unknown>)[name]).toBe('function');
      expect(name in main).toBe(false);
    }
  });
});
