// What determines a training run's result, hashed into every checkpoint, so a resumed run continues only
// the run it belongs to (same model, data, adapter and optimisation settings). Browser-safe: the hash
// comes from Web Crypto, which Node >= 20 and every current browser have on `globalThis.crypto`.

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

/** The SHA-256 of `data` (UTF-8 for strings) as lowercase hex. */
export async function sha256Hex(data: string | Uint8Array): Promise<string> {
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  const digest = await globalThis.crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** The hash of a run description (see `canonicalJson`). */
export function fingerprintHash(run: Readonly<Record<string, unknown>>): Promise<string> {
  return sha256Hex(canonicalJson(run));
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
