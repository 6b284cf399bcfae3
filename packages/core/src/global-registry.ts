/**
 * A registry shared by every copy of @peft/core loaded into one process or page. Apps often end
 * up with two copies of a package (different versions pulled in by different dependencies); a
 * module-level Map would then split registrations between them and lookups would fail at random.
 * Keying the store on `Symbol.for` puts one store on `globalThis` for all copies.
 */
export function globalRegistry<T>(name: string): Map<string, T> {
  const key = Symbol.for(`@peft/registry/${name}`);
  const holder = globalThis as unknown as Record<symbol, Map<string, T> | undefined>;
  let store = holder[key];
  if (!store) {
    store = new Map<string, T>();
    holder[key] = store;
  }
  return store;
}
