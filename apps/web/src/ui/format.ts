/** 1234567 -> "1,234,567". */
export function withThousands(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** Bytes in KiB or MiB, one decimal. */
export function formatBytes(bytes: number): string {
  return bytes >= 2 ** 20 ? `${(bytes / 2 ** 20).toFixed(1)} MiB` : `${(bytes / 2 ** 10).toFixed(1)} KiB`;
}

/** A loss with its perplexity: "2.345 (perplexity 10.4)". */
export function formatLoss(loss: number): string {
  return `${loss.toFixed(3)} (perplexity ${Math.exp(loss).toFixed(1)})`;
}
