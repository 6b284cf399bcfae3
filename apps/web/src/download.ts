import { type Zippable, zipSync } from 'fflate';

/** The adapter folder as one zip: `adapter_config.json` and `adapter_model.safetensors` at its root. */
export function zipAdapterFiles(files: Iterable<readonly [string, Uint8Array]>): Uint8Array {
  const entries: Zippable = {};
  for (const [name, bytes] of files) entries[name] = bytes;
  // safetensors is float data that deflate barely shrinks; storing it keeps the zip instant to make.
  return zipSync(entries, { level: 0 });
}

/** Offers `bytes` as a file download (an object URL behind a temporary link, freed after the click). */
export function offerDownload(bytes: Uint8Array, fileName: string, type = 'application/zip'): void {
  const url = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type }));
  const link = document.createElement('a');
  link.href = url;
  link.download = fileName;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
