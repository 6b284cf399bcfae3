// The fastest 4-bit CPU peer available here: onnxruntime-node's MatMulNBits (contrib op, 4-bit blockwise,
// int8 activations with accuracy_level 4), on the same shape and number of threads as ours. Both packages are optional dev
// dependencies: without them the peer column is simply absent. The one-node graph is encoded with onnx-proto (the
// ONNX protobuf schema compiled for JavaScript), not by hand.

interface OrtTensor {
  dispose?(): void;
}
interface OrtSession {
  run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>>;
  release?(): Promise<void>;
}
interface Ort {
  InferenceSession: { create(model: Uint8Array, options: Record<string, unknown>): Promise<OrtSession> };
  Tensor: new (type: string, data: Float32Array, dims: number[]) => OrtTensor;
}
interface OnnxProto {
  onnx: {
    ModelProto: { encode(message: unknown): { finish(): Uint8Array } };
    TensorProto: { DataType: { FLOAT: number; UINT8: number } };
    AttributeProto: { AttributeType: { INT: number } };
  };
}

async function optional<T>(name: string): Promise<T | null> {
  try {
    const module = (await import(/* @vite-ignore */ name)) as T & { default?: T };
    return (module.default ?? module) as T;
  } catch {
    return null;
  }
}

const BLOCK = 64;

function matMulNBitsModel(proto: OnnxProto, N: number, K: number): Uint8Array {
  const { onnx } = proto;
  const blocks = Math.ceil(K / BLOCK);
  const packed = new Uint8Array(N * blocks * (BLOCK / 2));
  for (let i = 0; i < packed.length; i++) packed[i] = (Math.random() * 256) | 0;
  const scales = new Float32Array(N * blocks).map(() => 0.01 + Math.random() * 0.02);
  const int = (name: string, i: number) => ({ name, type: onnx.AttributeProto.AttributeType.INT, i });
  const valueInfo = (name: string, dims: (number | string)[]) => ({
    name,
    type: {
      tensorType: {
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  });
  return onnx.ModelProto.encode({
    irVersion: 8,
    opsetImport: [
      { domain: '', version: 17 },
      { domain: 'com.microsoft', version: 1 },
    ],
    graph: {
      name: 'matmul_nbits',
      node: [
        {
          opType: 'MatMulNBits',
          domain: 'com.microsoft',
          input: ['A', 'B', 'scales'],
          output: ['Y'],
          attribute: [
            int('K', K),
            int('N', N),
            int('bits', 4),
            int('block_size', BLOCK),
            int('accuracy_level', 4),
          ],
        },
      ],
      initializer: [
        {
          name: 'B',
          dataType: onnx.TensorProto.DataType.UINT8,
          dims: [N, blocks, BLOCK / 2],
          rawData: packed,
        },
        {
          name: 'scales',
          dataType: onnx.TensorProto.DataType.FLOAT,
          dims: [N * blocks],
          rawData: new Uint8Array(scales.buffer),
        },
      ],
      input: [valueInfo('A', ['M', K])],
      output: [valueInfo('Y', ['M', N])],
    },
  }).finish();
}

/**
 * Median ms of MatMulNBits for x [M, K] · W [N, K]ᵀ on `threads` threads, or null when onnxruntime-node or
 * onnx-proto is missing.
 */
export async function onnxMatMulNBits(
  M: number,
  N: number,
  K: number,
  threads = 1,
  runs = 7,
): Promise<number | null> {
  const ort = await optional<Ort>('onnxruntime-node');
  const proto = await optional<OnnxProto>('onnx-proto');
  if (!ort || !proto) return null;
  const session = await ort.InferenceSession.create(matMulNBitsModel(proto, N, K), {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
  });
  const a = new ort.Tensor(
    'float32',
    Float32Array.from({ length: M * K }, () => Math.random() * 2 - 1),
    [M, K],
  );
  const times: number[] = [];
  for (let i = 0; i < runs + 2; i++) {
    const start = performance.now();
    const out = await session.run({ A: a });
    if (i >= 2) times.push(performance.now() - start);
    for (const t of Object.values(out)) t.dispose?.();
  }
  await session.release?.();
  times.sort((x, y) => x - y);
  return Math.round(times[times.length >> 1]! * 1000) / 1000;
}
