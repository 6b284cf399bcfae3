import { bytesPerElement, DTYPES, type DType, isDType } from '../dtype.js';
import { SafetensorsError } from '../errors.js';
import type { TensorInfo } from '../tensor-source.js';
import { scanHeaderKeys } from './json-keys.js';

/** Bytes of the little-endian u64 that opens every file and gives the header's length. */
export const LENGTH_PREFIX_BYTES = 8;

/**
 * Largest header accepted or written, as in the reference (Rust) implementation: it bounds what a
 * hostile file can make a reader allocate before anything else is checked.
 */
export const MAX_HEADER_BYTES = 100_000_000;

/** The reserved header key of the free-form string-to-string map. */
export const METADATA_KEY = '__metadata__';

/** One tensor as the header describes it; `dataOffsets` are relative to the start of the data section. */
export interface SafetensorsTensorInfo extends TensorInfo {
  readonly name: string;
  readonly dataOffsets: readonly [begin: number, end: number];
}

/** A validated header: every tensor lies inside the data section, and together they cover it exactly. */
export interface SafetensorsHeader {
  /** Tensors in header (text) order. */
  readonly tensors: readonly SafetensorsTensorInfo[];
  /** `__metadata__` with its keys in file order, or undefined when the file has none. */
  readonly metadata: ReadonlyMap<string, string> | undefined;
  /** Length of the JSON header in bytes (padding included), as stated by the length prefix. */
  readonly headerByteLength: number;
  /** Absolute file offset of the data section: `8 + headerByteLength`. */
  readonly dataStart: number;
  /** Length of the data section in bytes. */
  readonly dataByteLength: number;
}

/**
 * Reads and checks the length prefix against the file size, before anything is allocated for the
 * header. Returns the header length in bytes.
 */
export function readHeaderLength(prefix: Uint8Array, fileSize: number, file: string): number {
  if (fileSize < LENGTH_PREFIX_BYTES || prefix.byteLength < LENGTH_PREFIX_BYTES) {
    throw new SafetensorsError(
      file,
      undefined,
      `${fileSize} bytes is too small for a safetensors file (it opens with an 8-byte header length)`,
    );
  }
  const length = new DataView(prefix.buffer, prefix.byteOffset, LENGTH_PREFIX_BYTES).getBigUint64(0, true);
  if (length > BigInt(MAX_HEADER_BYTES)) {
    throw new SafetensorsError(
      file,
      undefined,
      `header length ${length} exceeds the ${MAX_HEADER_BYTES}-byte limit; the file is corrupt or not safetensors`,
    );
  }
  const n = Number(length);
  if (LENGTH_PREFIX_BYTES + n > fileSize) {
    throw new SafetensorsError(
      file,
      undefined,
      `header length ${n} runs past the end of the file (${fileSize} bytes); the file is truncated or not safetensors`,
    );
  }
  return n;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Parses and validates the JSON header. `fileSize` is the size of the whole file (or buffer), so
 * the data section is `fileSize - 8 - headerBytes.length` bytes long.
 */
export function parseHeader(headerBytes: Uint8Array, fileSize: number, file: string): SafetensorsHeader {
  const headerByteLength = headerBytes.byteLength;
  const dataStart = LENGTH_PREFIX_BYTES + headerByteLength;
  const dataByteLength = fileSize - dataStart;
  const fail = (detail: string, tensor?: string): never => {
    throw new SafetensorsError(file, tensor, detail);
  };

  if (headerBytes[0] !== 0x7b) fail('header does not start with "{" (the format requires a JSON object)');
  let text: string;
  try {
    text = utf8.decode(headerBytes);
  } catch (cause) {
    throw new SafetensorsError(file, undefined, 'header is not valid UTF-8', { cause });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new SafetensorsError(file, undefined, `header is not valid JSON (${(cause as Error).message})`, {
      cause,
    });
  }
  // Valid JSON whose first byte is "{" can only be an object.
  const record = json as Record<string, unknown>;

  const keys = scanHeaderKeys(text);
  if (keys.duplicate) {
    const [first, ...rest] = keys.duplicate;
    const where = rest.length > 0 ? `field "${rest.join('.')}" appears twice` : 'appears twice in the header';
    fail(`duplicate key: ${where}`, first);
  }

  let metadata: Map<string, string> | undefined;
  const tensors: SafetensorsTensorInfo[] = [];
  for (const name of keys.top) {
    const value = record[name];
    if (name === METADATA_KEY) {
      metadata = parseMetadata(value, keys.nested.get(name) ?? [], file);
      continue;
    }
    tensors.push(parseTensorInfo(name, value, dataByteLength, file));
  }
  checkCoverage(tensors, dataByteLength, file);
  return { tensors, metadata, headerByteLength, dataStart, dataByteLength };
}

function parseMetadata(
  value: unknown,
  order: readonly string[],
  file: string,
): Map<string, string> | undefined {
  // The reference reader maps `null` to "no metadata", so a file with it is still readable here.
  if (value === null) return undefined;
  if (!isPlainObject(value)) {
    throw new SafetensorsError(file, undefined, `${METADATA_KEY} must be an object of strings`);
  }
  const fields = value as Record<string, unknown>;
  const metadata = new Map<string, string>();
  for (const key of order) {
    const v = fields[key];
    if (typeof v !== 'string') {
      throw new SafetensorsError(
        file,
        undefined,
        `${METADATA_KEY}["${key}"] is ${describe(v)}; metadata values must be strings`,
      );
    }
    metadata.set(key, v);
  }
  return metadata;
}

function parseTensorInfo(
  name: string,
  value: unknown,
  dataByteLength: number,
  file: string,
): SafetensorsTensorInfo {
  const fail = (detail: string): never => {
    throw new SafetensorsError(file, name, detail);
  };
  if (!isPlainObject(value)) fail(`entry is ${describe(value)}, expected {dtype, shape, data_offsets}`);
  const { dtype, shape, data_offsets: offsets } = value as Record<string, unknown>;

  if (typeof dtype !== 'string') fail(`dtype is ${describe(dtype)}, expected a string`);
  if (!isDType(dtype)) fail(`unsupported dtype "${clip(String(dtype))}" (supported: ${DTYPES.join(', ')})`);

  if (!Array.isArray(shape)) fail(`shape is ${describe(shape)}, expected an array of dimensions`);
  const dims = shape as unknown[];
  for (const d of dims) {
    if (!isSize(d)) fail(`shape ${preview(dims)} has ${describe(d)}; dimensions are non-negative integers`);
  }

  if (!Array.isArray(offsets) || offsets.length !== 2) {
    fail(`data_offsets is ${describe(offsets)}, expected [begin, end]`);
  }
  const [begin, end] = offsets as unknown[];
  if (!isSize(begin) || !isSize(end)) {
    fail(`data_offsets ${preview(offsets as unknown[])} must be two non-negative integers`);
  }
  const b = begin as number;
  const e = end as number;
  if (b > e) fail(`data_offsets [${b}, ${e}] begin after they end`);
  if (e > dataByteLength) {
    fail(`data_offsets [${b}, ${e}] run past the end of the data section (${dataByteLength} bytes)`);
  }

  const itemSize = bytesPerElement(dtype as DType);
  let bytes = itemSize;
  // Multiply in order and stop at the first overflow, as the reference does, so that no shape can
  // pass by overflowing past 2^53 back into a plausible size.
  for (const d of dims as number[]) {
    bytes *= d;
    if (!Number.isSafeInteger(bytes)) fail(`shape ${clip(JSON.stringify(shape))} is too large to address`);
  }
  if (e - b !== bytes) {
    fail(
      `${dtype}${clip(JSON.stringify(shape))} needs ${bytes} bytes but data_offsets [${b}, ${e}] hold ${e - b}`,
    );
  }
  // `-0` is a valid JSON number; normalise it so shapes compare and re-serialise as plain 0.
  return {
    name,
    dtype: dtype as DType,
    shape: (dims as number[]).map((d) => d || 0),
    dataOffsets: [b || 0, e || 0],
  };
}

/**
 * The reference implementation requires the tensors, taken in offset order, to tile the data
 * section exactly: no overlap (two names aliasing bytes), no gap and no trailing bytes (room for a
 * second file format hidden inside). Zero-size tensors may share an offset.
 */
function checkCoverage(
  tensors: readonly SafetensorsTensorInfo[],
  dataByteLength: number,
  file: string,
): void {
  const byOffset = [...tensors].sort(
    (x, y) => x.dataOffsets[0] - y.dataOffsets[0] || x.dataOffsets[1] - y.dataOffsets[1],
  );
  let covered = 0;
  let previous: string | undefined;
  for (const t of byOffset) {
    const [begin, end] = t.dataOffsets;
    if (begin < covered) {
      throw new SafetensorsError(
        file,
        t.name,
        `data_offsets [${begin}, ${end}] overlap tensor "${previous}", which ends at ${covered}`,
      );
    }
    if (begin > covered) {
      throw new SafetensorsError(
        file,
        t.name,
        `data_offsets [${begin}, ${end}] leave bytes ${covered}..${begin} of the data section unused; ` +
          'the format allows no gaps',
      );
    }
    covered = end;
    previous = t.name;
  }
  if (covered !== dataByteLength) {
    throw new SafetensorsError(
      file,
      undefined,
      `the header describes ${covered} bytes of tensor data but the data section holds ${dataByteLength}; ` +
        'the file has trailing bytes the header does not account for',
    );
  }
}

function isSize(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function isPlainObject(v: unknown): boolean {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  if (v === undefined) return 'missing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${clip(JSON.stringify(v) ?? String(v))}`;
}

/**
 * A short rendering of an array for messages. Not `JSON.stringify`: a hostile header can nest arrays
 * deeper than the stack, which `JSON.parse` handles but a recursive stringify does not.
 */
function preview(items: unknown[]): string {
  const shown = items.slice(0, 4).map((x) => {
    if (Array.isArray(x)) return '[...]';
    if (typeof x === 'object' && x !== null) return '{...}';
    return clip(JSON.stringify(x) ?? String(x));
  });
  return `[${shown.join(',')}${items.length > 4 ? ',...' : ''}]`;
}

/** Keeps error messages readable when a hostile header carries megabyte-long values. */
function clip(text: string): string {
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
