// Reading and writing the state-dict entries of a bitsandbytes `Linear4bit` weight, key for key,
// dtype for dtype and byte for byte as `Linear4bit._save_to_state_dict` produces them.
import {
  bytesPerElement,
  type DType,
  fromFloat32,
  type HostTensor,
  hostTensor,
  numElements,
  type StateDict,
  type TensorSource,
  toFloat32,
} from '@peft/core';
import { Bnb4FormatError } from './errors.js';
import { decodeQuantStateJson, encodeQuantStateJson } from './quant-state-json.js';
import { checkQuantStateValues, quantStateNames } from './quant-state-values.js';
import { BNB4_QUANT_TYPES, type Bnb4QuantState, type Bnb4Tensor, numelOf } from './types.js';

/** The key of the JSON blob that marks `${prefix}weight` as a bitsandbytes 4-bit weight. */
export function quantStateKey(prefix: string, quantType: string): string {
  return `${prefix}weight.quant_state.bitsandbytes__${quantType}`;
}

const QUANT_STATE_PREFIX = 'weight.quant_state.bitsandbytes__';
/** A quant-state JSON blob is a few hundred bytes; a bigger one is not read. */
const MAX_QUANT_STATE_BYTES = 1 << 16;

/** True if the tensors under `prefix` carry a bitsandbytes 4-bit quant state (of any type name). */
export function hasBnb4QuantState(source: Pick<TensorSource, 'has' | 'keys'>, prefix: string): boolean {
  if (BNB4_QUANT_TYPES.some((t) => source.has(quantStateKey(prefix, t)))) return true;
  const marker = prefix + QUANT_STATE_PREFIX;
  return source.keys().some((k) => k.startsWith(marker));
}

/**
 * The entries of one 4-bit weight (and its bias) under `prefix`, in the order bitsandbytes writes them:
 * `weight`, `bias`, then the quant state: `weight.absmax`, `weight.quant_map`, [`weight.nested_absmax`,
 * `weight.nested_quant_map`], `weight.quant_state.bitsandbytes__<type>`.
 */
export function bnb4StateDict(tensor: Bnb4Tensor, prefix: string, bias: HostTensor | null = null): StateDict {
  const { packed, state, storage } = tensor;
  const dict: StateDict = new Map();
  const itemsize = bytesPerElement(storage);
  dict.set(`${prefix}weight`, hostTensor(storage, [packed.length / itemsize, 1], packed, `${prefix}weight`));
  if (bias) dict.set(`${prefix}bias`, bias);
  if (state.nested) {
    const { nested } = state;
    dict.set(`${prefix}weight.absmax`, hostTensor('U8', [nested.codes.length], nested.codes.slice()));
    dict.set(`${prefix}weight.quant_map`, fromFloat32(state.code, [state.code.length]));
    dict.set(`${prefix}weight.nested_absmax`, fromFloat32(nested.absmax, [nested.absmax.length]));
    dict.set(`${prefix}weight.nested_quant_map`, fromFloat32(nested.code, [nested.code.length]));
  } else {
    const absmax = state.absmax!;
    dict.set(`${prefix}weight.absmax`, fromFloat32(absmax, [absmax.length]));
    dict.set(`${prefix}weight.quant_map`, fromFloat32(state.code, [state.code.length]));
  }
  const json = encodeQuantStateJson({
    quantType: state.quantType,
    blocksize: state.blocksize,
    dtype: state.dtype,
    shape: state.shape,
    nested: state.nested
      ? { blocksize: state.nested.blocksize, dtype: 'float32', offset: state.nested.offset }
      : null,
  });
  dict.set(quantStateKey(prefix, state.quantType), hostTensor('U8', [json.length], json));
  return dict;
}

/** Reads and validates one bitsandbytes 4-bit weight (and its bias, if any) from `source`. */
export async function readBnb4Tensor(
  source: TensorSource,
  prefix: string,
): Promise<{ tensor: Bnb4Tensor; bias: HostTensor | null }> {
  const where = (tensor: string) => ({ source: source.name, tensor });
  const fail = (tensor: string, detail: string): never => {
    throw new Bnb4FormatError(source.name, tensor, detail);
  };

  const stateKeys = source.keys().filter((k) => k.startsWith(prefix + QUANT_STATE_PREFIX));
  if (stateKeys.length === 0) fail(`${prefix}weight`, 'no weight.quant_state.bitsandbytes__* tensor');
  if (stateKeys.length > 1)
    fail(`${prefix}weight`, `expected exactly one quant state, found ${stateKeys.join(', ')}`);
  const stateKey = stateKeys[0]!;
  const typeFromKey = stateKey.slice((prefix + QUANT_STATE_PREFIX).length);

  // dtype and size are checked on the listing before any tensor is read, so a lying quant state cannot make
  // the reader allocate more than the file holds; the data read must then agree with the listing.
  const get = async (
    key: string,
    dtypes: readonly DType[],
    numel?: number,
    maxNumel = Number.POSITIVE_INFINITY,
  ): Promise<HostTensor> => {
    if (!source.has(key)) fail(key, `missing (required by ${stateKey})`);
    const info = source.info(key);
    if (!dtypes.includes(info.dtype)) fail(key, `dtype ${info.dtype}, expected ${dtypes.join(' or ')}`);
    const count = numElements(info.shape);
    if (numel !== undefined && count !== numel) {
      fail(key, `has ${count} elements (shape ${JSON.stringify(info.shape)}), expected ${numel}`);
    }
    if (count > maxNumel)
      fail(key, `has ${count} elements, more than the ${maxNumel} a quant state may have`);
    const t = await source.get(key);
    if (t.dtype !== info.dtype || t.data.byteLength !== count * bytesPerElement(info.dtype))
      fail(
        key,
        `holds ${t.data.byteLength} bytes of ${t.dtype}, not the ${info.dtype}${JSON.stringify(info.shape)} listed`,
      );
    return t;
  };

  const blob = await get(stateKey, ['U8'], undefined, MAX_QUANT_STATE_BYTES);
  const json = decodeQuantStateJson(blob.data, where(stateKey), typeFromKey);
  const n = numelOf(json.shape);
  const blocks = Math.ceil(n / json.blocksize);

  const weightKey = `${prefix}weight`;
  const weight = await get(weightKey, ['U8', 'I8', 'F16', 'BF16', 'F32', 'F64']);
  const expectedBytes = Math.ceil(n / 2);
  if (weight.data.byteLength !== expectedBytes) {
    fail(
      weightKey,
      `packed storage ${weight.dtype}${JSON.stringify(weight.shape)} holds ${weight.data.byteLength} bytes, ` +
        `but logical shape ${JSON.stringify(json.shape)} needs ${expectedBytes}`,
    );
  }

  const absmaxKey = `${prefix}weight.absmax`;
  const absmax = await get(absmaxKey, json.nested ? ['U8'] : ['F32'], blocks);
  const quantMap = await get(`${prefix}weight.quant_map`, ['F32'], 16);

  const base = {
    quantType: json.quantType,
    blocksize: json.blocksize,
    dtype: json.dtype,
    shape: json.shape,
    code: toFloat32(quantMap),
  };
  let state: Bnb4QuantState;
  if (json.nested) {
    const nestedKey = `${prefix}weight.nested_absmax`;
    const nestedAbsmax = await get(nestedKey, ['F32'], Math.ceil(blocks / json.nested.blocksize));
    const nestedMap = await get(`${prefix}weight.nested_quant_map`, ['F32'], 256);
    state = {
      ...base,
      absmax: null,
      nested: {
        codes: absmax.data.slice(),
        absmax: toFloat32(nestedAbsmax),
        code: toFloat32(nestedMap),
        blocksize: json.nested.blocksize,
        offset: json.nested.offset,
      },
    };
  } else {
    for (const extra of ['nested_absmax', 'nested_quant_map']) {
      if (source.has(`${prefix}weight.${extra}`)) {
        fail(`${prefix}weight.${extra}`, `present, but ${stateKey} has no nested_* fields`);
      }
    }
    state = { ...base, absmax: toFloat32(absmax), nested: null };
  }

  checkQuantStateValues(state, quantStateNames(prefix, stateKey), fail);

  const biasKey = `${prefix}bias`;
  let bias: HostTensor | null = null;
  if (source.has(biasKey)) {
    bias = await get(biasKey, ['F32', 'F16', 'BF16']);
    const out = json.shape[0];
    if (bias.shape.length !== 1 || bias.shape[0] !== out) {
      fail(
        biasKey,
        `shape ${JSON.stringify(bias.shape)}, expected [${out}] (out features of ${JSON.stringify(json.shape)})`,
      );
    }
  }
  return { tensor: { packed: weight.data.slice(), state, storage: weight.dtype }, bias };
}
