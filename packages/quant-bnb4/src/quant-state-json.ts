// The `weight.quant_state.bitsandbytes__<type>` blob: `json.dumps` of QuantState's non-tensor
// fields, as UTF-8 bytes in a 1-D U8 tensor. Written with Python's default separators and float repr,
// so our bytes equal bitsandbytes' bytes.
import { pythonJsonFloat } from '@peft/core';
import { Bnb4FormatError } from './errors.js';
import {
  BNB4_BLOCKSIZES,
  BNB4_DTYPES,
  BNB4_NESTED_BLOCKSIZES,
  BNB4_QUANT_TYPES,
  type Bnb4DType,
  type Bnb4QuantType,
  numelOf,
} from './types.js';

/** The fields of the JSON blob, in bitsandbytes' insertion order. */
export interface Bnb4QuantStateJson {
  quantType: Bnb4QuantType;
  blocksize: number;
  dtype: Bnb4DType;
  shape: readonly number[];
  nested: { blocksize: number; dtype: 'float32'; offset: number } | null;
}

export function quantStateJsonText(fields: Bnb4QuantStateJson): string {
  const parts = [
    `"quant_type": "${fields.quantType}"`,
    `"blocksize": ${fields.blocksize}`,
    `"dtype": "${fields.dtype}"`,
    `"shape": [${fields.shape.join(', ')}]`,
  ];
  if (fields.nested) {
    parts.push(
      `"nested_blocksize": ${fields.nested.blocksize}`,
      `"nested_dtype": "${fields.nested.dtype}"`,
      `"nested_offset": ${pythonJsonFloat(fields.nested.offset)}`,
    );
  }
  return `{${parts.join(', ')}}`;
}

export function encodeQuantStateJson(fields: Bnb4QuantStateJson): Uint8Array {
  return new TextEncoder().encode(quantStateJsonText(fields));
}

const isPositiveInteger = (v: unknown): v is number => Number.isInteger(v) && (v as number) > 0;

/**
 * Parses and validates a quant-state blob. `expectedType` is the type named by the tensor key
 * (`...bitsandbytes__nf4`); the JSON must agree with it.
 */
export function decodeQuantStateJson(
  bytes: Uint8Array,
  where: { source: string; tensor: string },
  expectedType?: string,
): Bnb4QuantStateJson {
  const fail = (detail: string): never => {
    throw new Bnb4FormatError(where.source, where.tensor, detail);
  };
  let parsed: unknown;
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    // Python's json.dumps may write NaN/Infinity for a broken offset; JSON.parse rejects them, which
    // is the right outcome (the state is unusable), reported below as invalid JSON.
    parsed = JSON.parse(text);
  } catch (err) {
    return fail(`quant state is not valid UTF-8 JSON (${err instanceof Error ? err.message : String(err)})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return fail('quant state JSON is not an object');
  }
  const obj = parsed as Record<string, unknown>;

  const quantType = obj['quant_type'];
  if (!BNB4_QUANT_TYPES.includes(quantType as Bnb4QuantType)) {
    fail(`unknown quant_type ${JSON.stringify(quantType)}; expected "nf4" or "fp4"`);
  }
  if (expectedType !== undefined && quantType !== expectedType) {
    fail(
      `quant_type ${JSON.stringify(quantType)} contradicts the tensor name (bitsandbytes__${expectedType})`,
    );
  }
  const blocksize = obj['blocksize'];
  if (!BNB4_BLOCKSIZES.includes(blocksize as number)) {
    fail(`blocksize ${JSON.stringify(blocksize)} is not one of ${BNB4_BLOCKSIZES.join(', ')}`);
  }
  const dtype = obj['dtype'];
  if (!BNB4_DTYPES.includes(dtype as Bnb4DType)) {
    fail(`dtype ${JSON.stringify(dtype)} is not one of ${BNB4_DTYPES.join(', ')}`);
  }
  const shape = obj['shape'];
  if (!Array.isArray(shape) || !shape.every(isPositiveInteger)) {
    fail(`shape ${JSON.stringify(shape)} is not a list of positive integers`);
  }
  if (!Number.isSafeInteger(numelOf(shape as number[])))
    fail(`shape ${JSON.stringify(shape)} has more elements than any tensor can hold`);

  let nested: Bnb4QuantStateJson['nested'] = null;
  const hasNested = 'nested_offset' in obj || 'nested_blocksize' in obj || 'nested_dtype' in obj;
  if (hasNested) {
    const nestedBlocksize = obj['nested_blocksize'];
    if (!BNB4_NESTED_BLOCKSIZES.includes(nestedBlocksize as number))
      fail(
        `nested_blocksize ${JSON.stringify(nestedBlocksize)} is not one of ${BNB4_NESTED_BLOCKSIZES.join(', ')} ` +
          '(bitsandbytes writes 256)',
      );
    const nestedDtype = obj['nested_dtype'] ?? 'float32';
    if (nestedDtype !== 'float32') fail(`nested_dtype ${JSON.stringify(nestedDtype)} is not "float32"`);
    const offset = obj['nested_offset'];
    // bitsandbytes keeps the offset as float32: 1e300 is finite text but an infinite offset.
    if (typeof offset !== 'number' || !Number.isFinite(Math.fround(offset))) {
      fail(`nested_offset ${JSON.stringify(offset)} is not a finite float32`);
    }
    // bitsandbytes rebuilds the offset as a float32 tensor from the float64 text.
    nested = {
      blocksize: nestedBlocksize as number,
      dtype: 'float32',
      offset: Math.fround(offset as number),
    };
  }
  return {
    quantType: quantType as Bnb4QuantType,
    blocksize: blocksize as number,
    dtype: dtype as Bnb4DType,
    shape: shape as number[],
    nested,
  };
}
