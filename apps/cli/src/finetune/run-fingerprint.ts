// What determines a training run's result, written into every checkpoint, so `--resume` continues only
// the run it belongs to (same model, data, adapter and optimisation settings).
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';

/** JSON with object keys sorted at every level: one text per value, whatever the insertion order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export function sha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * A model folder's identity without reading its weights: the hash of config.json and the name and size
 * of every weight file.
 */
export async function modelFolderFingerprint(dir: string): Promise<Record<string, unknown>> {
  const config = await readFile(join(dir, 'config.json'));
  const files: Record<string, number> = {};
  for (const name of (await readdir(dir)).sort()) {
    if (!name.endsWith('.safetensors')) continue;
    files[name] = (await stat(join(dir, name))).size;
  }
  return { config_sha256: sha256(config), weight_files: files };
}

/** The hash of a run description (see `canonicalJson`). */
export function fingerprintHash(run: Record<string, unknown>): string {
  return sha256(canonicalJson(run));
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The fields whose values differ between two run descriptions, as "path: old -> new" (nested paths dotted). */
export function describeRunDifferences(saved: unknown, now: unknown, path = ''): string[] {
  if (isObject(saved) && isObject(now)) {
    const keys = [...new Set([...Object.keys(saved), ...Object.keys(now)])].sort();
    return keys.flatMap((k) => describeRunDifferences(saved[k], now[k], path ? `${path}.${k}` : k));
  }
  if (canonicalJson(saved) === canonicalJson(now)) return [];
  const shown = (v: unknown) => {
    const text = v === undefined ? '(unset)' : canonicalJson(v);
    return text.length > 80 ? `${text.slice(0, 77)}...` : text;
  };
  return [`${path || '(run)'}: ${shown(saved)} -> ${shown(now)}`];
}
