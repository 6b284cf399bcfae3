// A page that reports what the harness promises: a secure context, a WebGPU adapter, working module code.
interface AdapterInfo {
  architecture?: string;
  isFallbackAdapter?: boolean;
}

export default async function run(): Promise<{
  secure: boolean;
  adapter: string | null;
  fallback: boolean | null;
  answer: number;
}> {
  const gpu = (
    navigator as unknown as {
      gpu?: { requestAdapter(): Promise<{ info?: AdapterInfo; isFallbackAdapter?: boolean } | null> };
    }
  ).gpu;
  const adapter = gpu ? await gpu.requestAdapter() : null;
  console.log('hello from the page');
  return {
    secure: isSecureContext,
    adapter: adapter ? (adapter.info?.architecture ?? 'unknown') : null,
    fallback: adapter ? (adapter.info?.isFallbackAdapter ?? adapter.isFallbackAdapter ?? null) : null,
    answer: 6 * 7,
  };
}
