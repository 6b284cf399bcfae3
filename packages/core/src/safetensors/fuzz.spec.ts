import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bytesPerElement, DTYPES, type DType, numElements } from '../dtype.js';
import { SafetensorsError } from '../errors.js';
import type { HostTensor, StateDict } from '../host-tensor.js';
import { parseSafetensors } from './parse.js';
import { serializeSafetensors } from './serialize.js';
import { type ByteRangeReader, openSafetensorsReader, type SafetensorsSource } from './source.js';
import { concat, u64le } from './test-support/hand-built.js';

// Bounded runs with fixed seeds: a few seconds in all, reproducible in CI.
const runs = (numRuns: number, seed: number) => ({ numRuns, seed });

/** A reader over `bytes` that records every request and refuses any outside the file. */
function recordingReader(bytes: Uint8Array): { reader: ByteRangeReader; requested: () => number } {
  let total = 0;
  return {
    requested: () => total,
    reader: {
      size: bytes.byteLength,
      read: async (begin, end) => {
        if (!(Number.isSafeInteger(begin) && Number.isSafeInteger(end) && 0 <= begin && begin <= end)) {
          throw new Error(`bad range ${begin}..${end}`);
        }
        if (end > bytes.byteLength)
          throw new Error(`read ${begin}..${end} past the ${bytes.byteLength}-byte file`);
        total += end - begin;
        return bytes.slice(begin, end);
      },
    },
  };
}

/**
 * The contract under fuzzing: opening either throws a SafetensorsError or yields a source whose
 * tensors have exactly the size their dtype and shape imply and tile the data section; and the
 * reader never asks for more bytes than the file has (header included), so a lying header cannot
 * make it allocate more than the input.
 */
async function checkContract(bytes: Uint8Array): Promise<void> {
  const { reader, requested } = recordingReader(bytes);
  let source: SafetensorsSource;
  try {
    source = await openSafetensorsReader(reader, 'fuzz.safetensors');
  } catch (error) {
    if (!(error instanceof SafetensorsError)) throw error;
    expect(requested()).toBeLessThanOrEqual(bytes.byteLength);
    return;
  }
  expect(requested()).toBe(source.header.dataStart);
  for (const name of source.keys()) {
    const info = source.info(name);
    const tensor = await source.get(name);
    expect(tensor.data.byteLength).toBe(numElements(info.shape) * bytesPerElement(info.dtype));
  }
  // No holes, no overlap: reading every tensor reads every byte of the file exactly once.
  expect(requested()).toBe(bytes.byteLength);

  // The in-memory parser agrees with the lazy one.
  const eager = parseSafetensors(bytes, 'fuzz.safetensors');
  expect(eager.keys()).toEqual(source.keys());
}

const tensorArb: fc.Arbitrary<[string, HostTensor]> = fc
  .tuple(
    fc.string({ unit: 'binary', maxLength: 6 }).filter((n) => n !== '__metadata__'),
    fc.constantFrom<DType>(...DTYPES),
    fc.array(fc.nat(4), { maxLength: 3 }),
  )
  .chain(([name, dtype, shape]) => {
    const n = numElements(shape) * bytesPerElement(dtype);
    return fc
      .uint8Array({ minLength: n, maxLength: n })
      .map((data): [string, HostTensor] => [name, { dtype, shape, data }]);
  });

const dictArb: fc.Arbitrary<StateDict> = fc
  .uniqueArray(tensorArb, { selector: ([name]) => name, maxLength: 6 })
  .map((entries) => new Map(entries));

const metadataArb = fc.option(
  fc
    .uniqueArray(
      fc.tuple(fc.string({ unit: 'binary', maxLength: 5 }), fc.string({ unit: 'binary', maxLength: 5 })),
      {
        selector: ([k]) => k,
        maxLength: 4,
      },
    )
    .map((pairs) => new Map(pairs)),
  { nil: undefined },
);

const validFileArb = fc
  .tuple(dictArb, metadataArb)
  .map(([dict, metadata]) => serializeSafetensors(dict, metadata));

/** Fragments that steer mutations into the validator's branches rather than only into JSON errors. */
const jsonFragment = fc.constantFrom(
  '{',
  '}',
  '[',
  ']',
  ',',
  ':',
  '"',
  '\\',
  '-1',
  '0',
  '1e999',
  '2.5',
  '18446744073709551615',
  'null',
  '"__metadata__"',
  '"dtype"',
  '"shape"',
  '"data_offsets"',
  '"U16"',
  '"F32"',
  '[0,0]',
  '[]',
);

/**
 * Headers that are mostly right (weights favour valid values), so runs get past the first check and
 * into sizes, offsets, overlaps and gaps, with a wrong type or value mixed in now and then.
 */
const plausibleHeaderArb = (() => {
  const mostly = <T, U>(good: fc.Arbitrary<T>, bad: fc.Arbitrary<U>) =>
    fc.oneof({ arbitrary: good, weight: 8 }, { arbitrary: bad, weight: 1 });
  const dim = mostly(
    fc.nat(3),
    fc.oneof(fc.integer({ min: -3, max: 3 }), fc.double(), fc.string({ maxLength: 2 })),
  );
  const entry = fc.record({
    dtype: mostly(
      fc.constantFrom<string>(...DTYPES),
      fc.oneof(fc.constantFrom('U16', 'F8_E4M3', ''), fc.integer()),
    ),
    shape: mostly(fc.array(dim, { maxLength: 3 }), fc.anything({ maxDepth: 1 })),
    data_offsets: mostly(
      fc.tuple(fc.nat(24), fc.nat(12)).map(([begin, length]) => [begin, begin + length]),
      fc.oneof(fc.array(fc.integer({ min: -2, max: 40 }), { maxLength: 3 }), fc.anything({ maxDepth: 1 })),
    ),
  });
  const tensors = fc.dictionary(fc.string({ maxLength: 3 }), mostly(entry, fc.anything({ maxDepth: 1 })), {
    maxKeys: 4,
  });
  const metadata = fc.oneof(
    { arbitrary: fc.constant(undefined), weight: 4 },
    { arbitrary: fc.dictionary(fc.string({ maxLength: 3 }), fc.string({ maxLength: 3 })), weight: 4 },
    { arbitrary: fc.anything({ maxDepth: 1 }), weight: 1 },
  );
  return fc
    .tuple(tensors, metadata)
    .map(([t, m]): Record<string, unknown> => (m === undefined ? t : { __metadata__: m, ...t }));
})();

const mutationArb = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('append' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
  fc.record({
    kind: fc.constant('length' as const),
    value: fc.oneof(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.bigInt({ min: 0n, max: 4096n })),
  }),
  fc.record({ kind: fc.constant('splice' as const), at: fc.nat(), drop: fc.nat(8), insert: jsonFragment }),
);

type Mutation = typeof mutationArb extends fc.Arbitrary<infer M> ? M : never;

function mutate(file: Uint8Array, m: Mutation): Uint8Array {
  const out = file.slice();
  const headerLength = Number(new DataView(file.buffer).getBigUint64(0, true));
  switch (m.kind) {
    case 'flip':
      out[m.at % out.length] = m.value;
      return out;
    case 'truncate':
      return out.subarray(0, m.at % out.length);
    case 'append':
      return concat(out, m.bytes);
    case 'length':
      out.set(u64le(m.value));
      return out;
    case 'splice': {
      // Edit inside the JSON and fix the length prefix so the header still parses as far as it can.
      const header = new TextDecoder().decode(file.subarray(8, 8 + headerLength));
      const at = m.at % (header.length + 1);
      const edited = header.slice(0, at) + m.insert + header.slice(at + m.drop);
      const json = new TextEncoder().encode(edited);
      return concat(u64le(json.byteLength), json, file.subarray(8 + headerLength));
    }
  }
}

describe('fuzzing the reader', () => {
  it('random bytes: only SafetensorsError, never an out-of-file read', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), async (bytes) => checkContract(bytes)),
      runs(400, 1),
    );
  });

  it('random text behind a correct length prefix: exercises the JSON and header checks', async () => {
    const textArb = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 80 }),
      fc.array(jsonFragment, { maxLength: 30 }).map((parts) => `{${parts.join('')}`),
      fc.json({ maxDepth: 3 }),
    );
    await fc.assert(
      fc.asyncProperty(textArb, fc.nat(40), async (text, dataBytes) => {
        const json = new TextEncoder().encode(text);
        await checkContract(concat(u64le(json.byteLength), json, new Uint8Array(dataBytes)));
      }),
      runs(500, 2),
    );
  });

  it('structurally plausible headers with wrong types, sizes and offsets', async () => {
    await fc.assert(
      fc.asyncProperty(plausibleHeaderArb, fc.nat(48), async (header, dataBytes) => {
        const json = new TextEncoder().encode(JSON.stringify(header));
        await checkContract(concat(u64le(json.byteLength), json, new Uint8Array(dataBytes)));
      }),
      runs(800, 3),
    );
  });

  it('mutated valid files: only SafetensorsError, never an out-of-file read', async () => {
    await fc.assert(
      fc.asyncProperty(
        validFileArb,
        fc.array(mutationArb, { minLength: 1, maxLength: 3 }),
        async (file, ms) => {
          await checkContract(ms.reduce(mutate, file));
        },
      ),
      runs(500, 4),
    );
  });

  it('valid files round-trip: parse(serialize(d)) gives d back, and rewriting is byte-identical', async () => {
    await fc.assert(
      fc.asyncProperty(dictArb, metadataArb, async (dict, metadata) => {
        const file = serializeSafetensors(dict, metadata);
        await checkContract(file);
        const source = parseSafetensors(file);
        const back = await source.readAll();
        expect(new Set(back.keys())).toEqual(new Set(dict.keys()));
        for (const [name, tensor] of dict) expect(back.get(name)).toEqual(tensor);
        expect(source.metadata).toEqual(metadata);
        expect(serializeSafetensors(back, source.metadata)).toEqual(file);
      }),
      runs(300, 5),
    );
  });
});
