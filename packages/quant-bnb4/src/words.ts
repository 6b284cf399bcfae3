// TensorFlow.js has no uint8 dtype. Packed nibbles and 8-bit codes are therefore held as int32 words,
// four bytes per word in little-endian order (zero-padded at the end), never one byte per int32.

/** Bytes -> little-endian int32 words, zero-padded to a multiple of 4 bytes. */
export function bytesToWords(bytes: Uint8Array): Int32Array {
  const words = new Int32Array(Math.ceil(bytes.length / 4));
  const full = bytes.length >> 2;
  for (let w = 0; w < full; w++) {
    const i = w << 2;
    words[w] = bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24);
  }
  for (let i = full << 2; i < bytes.length; i++) words[full]! |= bytes[i]! << ((i & 3) * 8);
  return words;
}

/** The first `length` bytes of little-endian int32 words. */
export function wordsToBytes(words: Int32Array, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (words[i >> 2]! >>> ((i & 3) * 8)) & 0xff;
  return bytes;
}
