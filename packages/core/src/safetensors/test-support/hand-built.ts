// Builds safetensors bytes by hand (no serializer involved), so tests can state exact layouts and
// feed the reader headers that no correct writer would produce.

const encoder = new TextEncoder();

export function u64le(value: bigint | number): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(value), true);
  return out;
}

export function concat(
  ...parts: readonly (Uint8Array | string | readonly number[])[]
): Uint8Array<ArrayBuffer> {
  const bytes = parts.map((p) =>
    typeof p === 'string' ? encoder.encode(p) : p instanceof Uint8Array ? p : Uint8Array.from(p),
  );
  const out = new Uint8Array(bytes.reduce((n, b) => n + b.byteLength, 0));
  let offset = 0;
  for (const b of bytes) {
    out.set(b, offset);
    offset += b.byteLength;
  }
  return out;
}

/**
 * A file whose length prefix states the header's exact byte length (unless `declaredLength` is
 * given), followed by `dataBytes` bytes of data (a count gives that many zero bytes).
 */
export function fileWithHeader(
  header: string | Uint8Array | object,
  dataBytes: Uint8Array | number = 0,
  declaredLength?: bigint | number,
): Uint8Array<ArrayBuffer> {
  const json =
    header instanceof Uint8Array
      ? header
      : encoder.encode(typeof header === 'string' ? header : JSON.stringify(header));
  const data = typeof dataBytes === 'number' ? new Uint8Array(dataBytes) : dataBytes;
  return concat(u64le(declaredLength ?? json.byteLength), json, data);
}
