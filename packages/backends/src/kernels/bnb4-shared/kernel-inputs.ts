import type { NamedAttrMap, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs-core';
import type { Bnb4Attrs } from '../kernel-names.js';
import { type Bnb4Arrays, blockCount } from './arrays.js';

/** Reads the bnb4 attrs a kernel was called with. */
export function bnb4Attrs(attrs: NamedAttrMap | undefined): Bnb4Attrs {
  return attrs as unknown as Bnb4Attrs;
}

/**
 * Typed-array views of a kernel's weight inputs, given how to see a tensor's bytes on the running backend
 * (`bytesOf` must return a view, 4-byte aligned, of at least the tensor's byte length).
 */
export function bnb4ArraysFromInputs(
  inputs: NamedTensorInfoMap,
  attrs: Bnb4Attrs,
  bytesOf: (t: TensorInfo) => Uint8Array,
): Bnb4Arrays {
  const f32 = (t: TensorInfo, length: number): Float32Array => {
    const bytes = bytesOf(t);
    return new Float32Array(bytes.buffer, bytes.byteOffset, length);
  };
  const nb = blockCount(attrs);
  const nested = attrs.nested;
  const packed = inputs['packed']!;
  const absmax = inputs['absmax']!;
  return {
    packed: bytesOf(packed),
    absmax: nested ? bytesOf(absmax) : f32(absmax, nb),
    nestedAbsmax: nested ? f32(inputs['nestedAbsmax']!, Math.ceil(nb / attrs.nestedBlocksize)) : null,
    nestedCode: nested ? f32(inputs['nestedCode']!, 256) : null,
    code: f32(inputs['code']!, 16),
    outFeatures: attrs.outFeatures,
    inFeatures: attrs.inFeatures,
    blocksize: attrs.blocksize,
    nestedBlocksize: attrs.nestedBlocksize,
    offset: attrs.offset,
  };
}
