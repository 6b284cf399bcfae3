import { globalRegistry, RegistryError, SpecificationVersionError } from '@peft/core';
import { type AnyPeftMethod, PEFT_METHOD_SPECIFICATION_VERSIONS } from './method.js';

// On globalThis (through core's globalRegistry) so two installed copies of the bridge share methods.
const methods = globalRegistry<AnyPeftMethod>('peft-methods');

/** The package that provides a `peft_type`, by this project's naming convention. */
export function packageForPeftType(peftType: string): string {
  return `@peft/${peftType.toLowerCase()}`;
}

/**
 * Registers a method under its `peft_type`. Registering the same type again is a no-op, so two
 * installed copies of a method package (both registering on import) coexist; pass `replace` to
 * override on purpose.
 */
export function registerPeftMethod(method: AnyPeftMethod, options: { replace?: boolean } = {}): void {
  if (!(PEFT_METHOD_SPECIFICATION_VERSIONS as readonly string[]).includes(method.specificationVersion)) {
    throw new SpecificationVersionError(
      `PEFT method ${JSON.stringify(method.peftType)} from ${method.packageName}`,
      method.specificationVersion,
      PEFT_METHOD_SPECIFICATION_VERSIONS,
      { host: '@peft/adapter-bridge', implementer: method.packageName },
    );
  }
  if (methods.has(method.peftType) && !options.replace) return;
  methods.set(method.peftType, method);
}

export function unregisterPeftMethod(peftType: string): boolean {
  return methods.delete(peftType);
}

export function registeredPeftTypes(): string[] {
  return [...methods.keys()];
}

/** The method registered for `peftType`; an unknown type names the package to install. */
export function getPeftMethod(peftType: string): AnyPeftMethod {
  const method = methods.get(peftType);
  if (method) return method;
  const pkg = packageForPeftType(peftType);
  const known = registeredPeftTypes();
  throw new RegistryError(
    `no PEFT method is registered for peft_type ${JSON.stringify(peftType)}; install ${pkg} and import it ` +
      `(import '${pkg}') before loading this adapter (registered: ${known.length ? known.join(', ') : 'none'})`,
  );
}
