import { bytesPerElement, DTYPES, type DType, isDType } from '../dtype.js';
import { SafetensorsError } from '../errors.js';
import type { HostTensor, StateDict } from '../host-tensor.js';
import { LENGTH_PREFIX_BYTES, MAX_HEADER_BYTES, METADATA_KEY } from './header.js';

/** `__metadata__` to write. A `Map` keeps its order exactly; a plain object follows JS key order. */
export type SafetensorsMetadata = ReadonlyMap<string, string> | Readonly<Record<string, string>>;

export interface SerializeOptions {
  /**
   * `'safetensors'` (default) lays tensors out as Python's `safetensors` does (by dtype, widest
   * alignment first, then by name), so a file read and written back is byte-identical.
   * `'insertion'` keeps the state dict's order, in the header and in the data.
   */
  readonly order?: 'safetensors' | 'insertion';
  /** Name used in error messages. */
  readonly name?: string;
}

/** Everything needed to write a file: the length prefix and header, then each tensor's bytes. */
export interface SafetensorsLayout {
  /** 8-byte little-endian header length followed by the space-padded JSON header. */
  readonly head: Uint8Array;
  /** Tensor data, in file order. */
  readonly chunks: readonly Uint8Array[];
  readonly totalBytes: number;
}

/**
 * The reference serializer orders tensors by its dtype enum, descending, which puts wider types
 * first so each tensor stays aligned to its element size. This is that enum's relative order
 * (unchanged since safetensors 0.3) restricted to the dtypes peft.js supports.
 */
const DTYPE_RANK: Record<DType, number> = {
  BOOL: 0,
  U8: 1,
  I8: 2,
  I16: 3,
  F16: 4,
  BF16: 5,
  I32: 6,
  F32: 7,
  F64: 8,
  I64: 9,
};

/**
 * Code point order, which equals the byte order of UTF-8 that the reference uses to sort names.
 * Plain `<` compares UTF-16 code units and would put astral characters before U+E000..U+FFFF.
 */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codePointRank(x) - codePointRank(y);
  }
  return a.length - b.length;
}

function codePointRank(unit: number): number {
  if (unit < 0xd800) return unit;
  // Surrogates encode code points above U+FFFF, so they rank after U+E000..U+FFFF.
  return unit >= 0xe000 ? unit - 0x800 : unit + 0x2000;
}

export function planSafetensors(
  dict: StateDict,
  metadata: SafetensorsMetadata | undefined,
  options: SerializeOptions = {},
): SafetensorsLayout {
  const file = options.name ?? 'safetensors output';
  const entries = [...dict.entries()];
  for (const [name, tensor] of entries) checkTensor(name, tensor, file);
  if ((options.order ?? 'safetensors') === 'safetensors') {
    entries.sort(
      ([an, at], [bn, bt]) => DTYPE_RANK[bt.dtype] - DTYPE_RANK[at.dtype] || compareCodePoints(an, bn),
    );
  }

  const parts: string[] = [];
  if (metadata !== undefined) parts.push(`${JSON.stringify(METADATA_KEY)}:${metadataJson(metadata, file)}`);
  let offset = 0;
  for (const [name, tensor] of entries) {
    const end = offset + tensor.data.byteLength;
    parts.push(
      `${JSON.stringify(name)}:{"dtype":"${tensor.dtype}","shape":[${tensor.shape.join(',')}],` +
        `"data_offsets":[${offset},${end}]}`,
    );
    offset = end;
  }
  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  // The reference pads the header with spaces to a multiple of 8 so the data section starts aligned.
  const headerLength = Math.ceil(json.byteLength / 8) * 8;
  if (headerLength > MAX_HEADER_BYTES) {
    throw new SafetensorsError(
      file,
      undefined,
      `header would be ${headerLength} bytes, over the ${MAX_HEADER_BYTES}-byte limit readers enforce`,
    );
  }
  const head = new Uint8Array(LENGTH_PREFIX_BYTES + headerLength);
  new DataView(head.buffer).setBigUint64(0, BigInt(headerLength), true);
  head.set(json, LENGTH_PREFIX_BYTES);
  head.fill(0x20, LENGTH_PREFIX_BYTES + json.byteLength);
  return { head, chunks: entries.map(([, t]) => t.data), totalBytes: head.byteLength + offset };
}

function metadataJson(metadata: SafetensorsMetadata, file: string): string {
  const pairs = metadata instanceof Map ? [...metadata.entries()] : Object.entries(metadata);
  const fields = pairs.map(([key, value]) => {
    if (typeof value !== 'string') {
      throw new SafetensorsError(
        file,
        undefined,
        `${METADATA_KEY}["${key}"] must be a string, got ${typeof value}`,
      );
    }
    checkWellFormed(key, file, `${METADATA_KEY} key`);
    checkWellFormed(value, file, `${METADATA_KEY}["${key}"]`);
    return `${JSON.stringify(key)}:${JSON.stringify(value)}`;
  });
  return `{${fields.join(',')}}`;
}

function checkTensor(name: string, tensor: HostTensor, file: string): void {
  const fail = (detail: string): never => {
    throw new SafetensorsError(file, name, detail);
  };
  if (name === METADATA_KEY) fail(`"${METADATA_KEY}" is reserved for metadata and cannot name a tensor`);
  checkWellFormed(name, file, 'tensor name', name);
  if (!isDType(tensor.dtype))
    fail(`unsupported dtype "${String(tensor.dtype)}" (supported: ${DTYPES.join(', ')})`);
  if (!Array.isArray(tensor.shape)) fail('shape must be an array of dimensions');
  let expected = bytesPerElement(tensor.dtype);
  for (const d of tensor.shape) {
    if (!Number.isSafeInteger(d) || d < 0) {
      fail(`shape ${JSON.stringify(tensor.shape)} must hold non-negative integers`);
    }
    expected *= d;
  }
  if (!(tensor.data instanceof Uint8Array)) fail('data must be a Uint8Array of little-endian bytes');
  if (tensor.data.byteLength !== expected) {
    fail(
      `${tensor.dtype}${JSON.stringify(tensor.shape)} needs ${expected} bytes, got ${tensor.data.byteLength}`,
    );
  }
}

/** Lone surrogates cannot be encoded as UTF-8; the encoder would silently replace them. */
function checkWellFormed(text: string, file: string, what: string, tensor?: string): void {
  if (/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(text)) {
    throw new SafetensorsError(
      file,
      tensor,
      `${what} ${JSON.stringify(text)} contains a lone UTF-16 surrogate`,
    );
  }
}
