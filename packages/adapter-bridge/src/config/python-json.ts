/**
 * JSON text byte-identical to Python's `json.dumps(obj, indent=2, sort_keys=True)`, which is how PEFT
 * writes `adapter_config.json`. `JSON.stringify` differs in three ways that matter here: it writes the
 * float 0.0 as `0` (Python: `0.0`), uses other exponent spellings (`1e-7` vs `1e-07`), and does not
 * escape non-ASCII (Python's default `ensure_ascii`). No maintained package mimics `json.dumps`, so
 * the writer is here; it is short.
 */

import { pythonJsonFloat } from '@peft/core';

const PY_FLOAT_BRAND = Symbol.for('@peft/adapter-bridge/PyFloat');

/** A Python float: a number that must be written with a decimal point or exponent. */
export class PyFloat {
  readonly [PY_FLOAT_BRAND] = true;

  constructor(readonly value: number) {}

  // A method's config comes from the copy of the bridge the method package imports, and may be written
  // by another installed copy; `instanceof` checks the brand so both copies recognise each other's floats.
  static [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && PY_FLOAT_BRAND in value;
  }
}

export type PyJson = null | boolean | number | string | PyFloat | PyJson[] | { [key: string]: PyJson };

function escapeString(text: string): string {
  let out = '"';
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const ch = text[i]!;
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\b') out += '\\b';
    else if (ch === '\f') out += '\\f';
    // Python escapes every UTF-16 unit outside printable ASCII, surrogate halves separately.
    else if (c < 0x20 || c > 0x7e) out += `\\u${c.toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

function write(value: PyJson, indent: string): string {
  if (value === null) return 'null';
  if (value === true) return 'true';
  if (value === false) return 'false';
  if (value instanceof PyFloat) return pythonJsonFloat(value.value);
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) return pythonJsonFloat(value);
    return Object.is(value, -0) ? '0' : String(BigInt(value));
  }
  if (typeof value === 'string') return escapeString(value);
  const inner = `${indent}  `;
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    return `[\n${value.map((v) => inner + write(v, inner)).join(',\n')}\n${indent}]`;
  }
  const keys = Object.keys(value).sort(comparePythonStrings);
  if (keys.length === 0) return '{}';
  return `{\n${keys.map((k) => `${inner}${escapeString(k)}: ${write(value[k]!, inner)}`).join(',\n')}\n${indent}}`;
}

/** Python orders str by code point; JS `<` compares UTF-16 units, which differs only above U+FFFF. */
function comparePythonStrings(a: string, b: string): number {
  const ca = Array.from(a, (ch) => ch.codePointAt(0)!);
  const cb = Array.from(b, (ch) => ch.codePointAt(0)!);
  for (let i = 0; i < Math.min(ca.length, cb.length); i++) {
    if (ca[i] !== cb[i]) return ca[i]! - cb[i]!;
  }
  return ca.length - cb.length;
}

/** `json.dumps(value, indent=2, sort_keys=True)` (no trailing newline, as PEFT writes it). */
export function pythonJsonDumps(value: PyJson): string {
  return write(value, '');
}
