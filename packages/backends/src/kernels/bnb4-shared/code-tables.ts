/** For each byte value v, the codes of its two nibbles: [code[v >> 4], code[v & 15]] (256 pairs). */
export function pairTable(code: Float32Array): Float32Array {
  const table = new Float32Array(512);
  for (let v = 0; v < 256; v++) {
    table[2 * v] = code[v >> 4]!;
    table[2 * v + 1] = code[v & 15]!;
  }
  return table;
}

/**
 * The 4-bit codes as 16-bit integers code * 8192 / max|code| for the fixed-point kernel, split into 16 low bytes
 * then 16 high bytes (one `i8x16.swizzle` table each). Returns null when the table has no usable scale
 * (all zero or not finite); the exact kernel then runs.
 */
export function fixed16Tables(code: Float32Array): { tables: Uint8Array; codeScale: number } | null {
  let codeScale = 0;
  for (const c of code) codeScale = Math.max(codeScale, Math.abs(c));
  if (!(codeScale > 0) || !Number.isFinite(codeScale)) return null;
  const tables = new Uint8Array(32);
  for (let c = 0; c < 16; c++) {
    const v = Math.round((code[c]! / codeScale) * 8192);
    tables[c] = v & 255;
    tables[16 + c] = (v >> 8) & 255;
  }
  return { tables, codeScale };
}
