import { type KernelFunc, type NamedAttrMap, slice_util, type TensorInfo, util } from '@tensorflow/tfjs-core';
import type { WasmBackendLike } from '../backend-access.js';

// tfjs-backend-wasm's Slice starts by copying the whole input out of the heap into a new JavaScript buffer
// (`readSync`), whatever the size of the slice, and its Unpack runs that Slice once per output. Slicing 8,192 rows
// out of Qwen2.5-0.5B's 545 MB embedding table (the tied head's gradient does, 19 times per loss chunk) copied the
// whole table each time: seconds per chunk, and up to 1.1 GB of garbage outside the heap. These read the input
// through a view of the heap and copy only the elements the output takes.

type Elements = Float32Array | Int32Array | Uint8Array;

function elementsOf(backend: WasmBackendLike, t: TensorInfo): Elements {
  const data = backend.dataIdMap.get(t.dataId);
  if (!data) throw new Error(`wasm backend has no data for a tensor of shape [${t.shape.join(', ')}]`);
  const buffer = backend.wasm.HEAPU8.buffer;
  const size = util.sizeFromShape(t.shape);
  if (t.dtype === 'float32') return new Float32Array(buffer, data.memoryOffset, size);
  if (t.dtype === 'int32') return new Int32Array(buffer, data.memoryOffset, size);
  return new Uint8Array(buffer, data.memoryOffset, size);
}

/** Copies the box begin .. begin + size of x (shape `shape`) into out, in row-major order. */
function copyBox(
  x: Elements,
  shape: readonly number[],
  begin: readonly number[],
  size: readonly number[],
  out: Elements,
): void {
  const rank = shape.length;
  if (util.sizeFromShape([...size]) === 0) return;
  // The innermost axis from which on the box takes whole rows: everything after it is one contiguous run.
  let inner = rank - 1;
  while (inner > 0 && begin[inner] === 0 && size[inner] === shape[inner]) inner--;
  const strides = util.computeStrides(shape as number[]);
  const stride = (axis: number) => (axis === rank - 1 ? 1 : strides[axis]!);
  const run = size[inner]! * stride(inner);
  const outer = util.sizeFromShape(size.slice(0, inner) as number[]);
  const index = new Array<number>(inner).fill(0);
  let written = 0;
  for (let n = 0; n < outer; n++) {
    let offset = begin[inner]! * stride(inner);
    for (let axis = 0; axis < inner; axis++) offset += (begin[axis]! + index[axis]!) * stride(axis);
    out.set(x.subarray(offset, offset + run), written);
    written += run;
    for (let axis = inner - 1; axis >= 0; axis--) {
      if (++index[axis]! < size[axis]!) break;
      index[axis] = 0;
    }
  }
}

/** Slice reading the heap in place (strings go to the stock kernel). */
export function viewSlice(stock: KernelFunc | null): KernelFunc {
  return (args) => {
    const x = args.inputs['x'] as TensorInfo;
    if (x.dtype === 'string' && stock) return stock(args);
    const backend = args.backend as unknown as WasmBackendLike;
    const attrs = args.attrs as NamedAttrMap & { begin: number | number[]; size?: number | number[] };
    const [begin, size] = slice_util.parseSliceParams(x as never, attrs.begin, attrs.size) as [
      number[],
      number[],
    ];
    const out = backend.makeOutput(size, x.dtype);
    // Views are taken after makeOutput: an allocation may grow the heap and detach earlier ones.
    copyBox(elementsOf(backend, x), x.shape, begin, size, elementsOf(backend, out));
    return out;
  };
}

/** Unpack (tf.unstack) through the same in-place copy, one output per index along the axis. */
export function viewUnpack(stock: KernelFunc | null): KernelFunc {
  return (args) => {
    const value = args.inputs['value'] as TensorInfo;
    if (value.dtype === 'string' && stock) return stock(args);
    const backend = args.backend as unknown as WasmBackendLike;
    const rank = value.shape.length;
    let axis = (args.attrs as NamedAttrMap & { axis: number }).axis;
    if (axis < 0) axis += rank;
    const outShape = value.shape.filter((_, i) => i !== axis);
    const begin = new Array<number>(rank).fill(0);
    const size = [...value.shape];
    size[axis] = 1;
    const outs: TensorInfo[] = [];
    for (let i = 0; i < value.shape[axis]!; i++) {
      begin[axis] = i;
      const out = backend.makeOutput(outShape, value.dtype);
      copyBox(elementsOf(backend, value), value.shape, begin, size, elementsOf(backend, out));
      outs.push(out);
    }
    return outs;
  };
}
