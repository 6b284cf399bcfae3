// Mutations of valid adapter folders, for fuzz tests of the loader: every outcome must be a loaded
// adapter or a typed PeftError. Seeded, so a failing case is reproducible from its seed.
import type { AdapterFiles } from '../adapter-files.js';

/** A seeded PRNG (mulberry32): uniform floats in [0, 1). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Random = () => number;

const pick = <T>(random: Random, items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
const intBelow = (random: Random, n: number): number => Math.floor(random() * n);

let nested: unknown = 0;
for (let i = 0; i < 2000; i++) nested = [nested];

/** Values a hostile or corrupted config might hold: wrong types, huge sizes, regex traps. */
const HOSTILE_VALUES: readonly unknown[] = [
  null,
  true,
  false,
  0,
  -1,
  1,
  2.5,
  1e9,
  2 ** 31,
  2 ** 53,
  -(2 ** 53),
  1e308,
  '',
  'x',
  'q_proj',
  'all-linear',
  '.*',
  '(a+)+$',
  '^(\\w+\\.?)*!$',
  '(?=q)q_proj',
  '(a)\\1',
  '(unclosed',
  '\u0000',
  'TOY',
  'LORA',
  'VERA',
  '__proto__',
  [],
  [''],
  ['q_proj'],
  ['q_proj', 'v_proj', 'lm_head'],
  [0, 1],
  [-1],
  [1e9],
  {},
  { q_proj: 4 },
  { q_proj: 1e12 },
  { '(a+)+$': 2 },
  nested,
];

const CONFIG_KEYS = [
  'peft_type',
  'r',
  'target_modules',
  'exclude_modules',
  'modules_to_save',
  'layers_to_transform',
  'layers_pattern',
  'bias',
  'task_type',
  'rank_pattern',
  'alpha_pattern',
  'projection_prng_key',
  'save_projection',
  'scale',
  'inference_mode',
  'fan_in_fan_out',
  'base_model_name_or_path',
  'auto_mapping',
  'unknown_field',
];

const JSON_FRAGMENTS = [
  '{',
  '}',
  '[',
  ']',
  ',',
  ':',
  '"',
  '\\',
  'null',
  '-1',
  '1e999',
  '"r":',
  '\u00ff',
  '\uffff',
];

function mutateBytes(bytes: Uint8Array, random: Random): Uint8Array {
  const out = new Uint8Array(bytes);
  switch (intBelow(random, 5)) {
    case 0: // flip a few bytes, mostly near the start where the structure is
      for (let i = 0, n = 1 + intBelow(random, 4); i < n && out.length > 0; i++) {
        const at =
          random() < 0.7 ? intBelow(random, Math.min(out.length, 256)) : intBelow(random, out.length);
        out[at] = intBelow(random, 256);
      }
      return out;
    case 1: // truncate
      return out.subarray(0, intBelow(random, out.length + 1));
    case 2: {
      // insert a fragment
      const at = intBelow(random, out.length + 1);
      const fragment = new TextEncoder().encode(pick(random, JSON_FRAGMENTS));
      return new Uint8Array([...out.subarray(0, at), ...fragment, ...out.subarray(at)]);
    }
    case 3: // append junk
      return new Uint8Array([
        ...out,
        ...Array.from({ length: 1 + intBelow(random, 16) }, () => intBelow(random, 256)),
      ]);
    default: // empty
      return new Uint8Array(0);
  }
}

function mutateConfigJson(bytes: Uint8Array, random: Random): Uint8Array {
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>;
  } catch {
    return mutateBytes(bytes, random);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return mutateBytes(bytes, random);
  if (random() < 0.05) return new TextEncoder().encode(JSON.stringify(pick(random, HOSTILE_VALUES)));
  for (let i = 0, n = 1 + intBelow(random, 3); i < n; i++) {
    const key = pick(random, CONFIG_KEYS);
    if (random() < 0.2) delete json[key];
    else json[key] = pick(random, HOSTILE_VALUES);
  }
  return new TextEncoder().encode(JSON.stringify(json));
}

interface HeaderEntry {
  dtype?: unknown;
  shape?: unknown;
  data_offsets?: unknown;
}

function mutateSafetensorsHeader(bytes: Uint8Array, random: Random): Uint8Array {
  if (bytes.length < 8) return mutateBytes(bytes, random);
  const length = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  if (length > bytes.length - 8) return mutateBytes(bytes, random);
  let header: Record<string, HeaderEntry>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length))) as Record<
      string,
      HeaderEntry
    >;
  } catch {
    return mutateBytes(bytes, random);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header))
    return mutateBytes(bytes, random);
  const data = bytes.subarray(8 + length);
  const keys = Object.keys(header).filter((k) => k !== '__metadata__');
  const key = keys.length > 0 ? pick(random, keys) : 'x';
  const entry = header[key] ?? {};
  const dims = Array.isArray(entry.shape) ? (entry.shape as unknown[]) : [];
  switch (intBelow(random, 7)) {
    case 0:
      entry.dtype = pick(random, ['F32', 'F16', 'BF16', 'F64', 'I64', 'U8', 'BOOL', 'F8_E4M3', 'X', 7]);
      break;
    case 1:
      entry.shape = dims.map((d) =>
        random() < 0.5 ? pick(random, [0, 1, 2, 1e9, -1, 2.5, 2 ** 40, '4']) : d,
      );
      break;
    case 2:
      entry.shape = random() < 0.5 ? [...dims].reverse() : [...dims, pick(random, [1, 2, 1e9])];
      break;
    case 3: {
      const offsets = Array.isArray(entry.data_offsets) ? (entry.data_offsets as number[]) : [0, 0];
      const shift = pick(random, [-4, -1, 1, 4, 2 ** 32, 2 ** 53]);
      entry.data_offsets =
        random() < 0.5 ? [offsets[0]! + shift, offsets[1]] : [offsets[0], offsets[1]! + shift];
      break;
    }
    case 4: // rename a tensor (to another key of the adapter, or a foreign one)
      delete header[key];
      header[pick(random, [...keys, 'base_model.model.lm_head.weight', 'base_model.toy_scale', ''])] = entry;
      break;
    case 5:
      delete header[key];
      break;
    default:
      header['__metadata__'] = pick(random, [{ format: 'pt' }, { format: 1 }, [], null, 'x']) as HeaderEntry;
  }
  if (header[key] === undefined && !keys.includes(key)) header[key] = entry;
  const text = new TextEncoder().encode(JSON.stringify(header));
  const prefix = new Uint8Array(8);
  new DataView(prefix.buffer).setBigUint64(0, BigInt(text.length), true);
  return new Uint8Array([...prefix, ...text, ...data]);
}

/**
 * A copy of `files` with one to three random mutations: config fields set to hostile values or
 * removed, either file's bytes flipped, truncated, extended or emptied, safetensors header entries
 * with other dtypes, shapes, offsets or names, a file removed.
 */
export function mutateAdapterFiles(files: AdapterFiles, random: Random): AdapterFiles {
  const out: AdapterFiles = new Map(files);
  for (let i = 0, n = 1 + intBelow(random, 3); i < n; i++) {
    const names = [...out.keys()];
    if (names.length === 0) break;
    const name = pick(random, names);
    const bytes = out.get(name)!;
    const roll = random();
    if (roll < 0.03) out.delete(name);
    else if (roll < 0.25) out.set(name, mutateBytes(bytes, random));
    else if (name.endsWith('.json')) out.set(name, mutateConfigJson(bytes, random));
    else out.set(name, mutateSafetensorsHeader(bytes, random));
  }
  return out;
}
