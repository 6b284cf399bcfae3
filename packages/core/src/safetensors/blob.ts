import { openSafetensorsReader, type SafetensorsSource } from './source.js';

/**
 * Opens a safetensors `Blob` (a browser `File` from an `<input>` or drag and drop, or a fetched
 * `Response.blob()`): only the header is read now; each `get` reads just that tensor's slice, so a
 * multi-GB file is never held in memory whole.
 */
export function openSafetensorsBlob(blob: Blob, name?: string): Promise<SafetensorsSource> {
  // A browser File carries its own name; a plain Blob has none.
  const fileName = name ?? ((blob as Partial<File>).name || 'blob');
  return openSafetensorsReader(
    {
      size: blob.size,
      read: async (begin, end) => new Uint8Array(await blob.slice(begin, end).arrayBuffer()),
    },
    fileName,
  );
}
