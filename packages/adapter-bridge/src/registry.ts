import { globalRegistry, RegistryError, SpecificationVersionError } from '@peft/core';
import {
  type AnyPeftMethod,
  type AnyTrainingPeftMethod,
  isTrainingCapable,
  MethodContractError,
  PEFT_METHOD_SPECIFICATION_VERSIONS,
} from './method.js';

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
  if (method.specificationVersion !== 'v1') checkTrainingInfo(method);
  if (methods.has(method.peftType) && !options.replace) return;
  methods.set(method.peftType, method);
}

const METHOD_NAME = /^[a-z][a-z0-9_-]*$/;

/** A v2 method's name and training block are well formed, and its name is not another method's. */
function checkTrainingInfo(method: AnyPeftMethod): void {
  const m = method as Partial<AnyTrainingPeftMethod>;
  const what = `PEFT method ${JSON.stringify(method.peftType)} from ${method.packageName}`;
  if (typeof m.name !== 'string' || !METHOD_NAME.test(m.name)) {
    throw new RegistryError(
      `${what} implements contract ${method.specificationVersion} but its name ${JSON.stringify(m.name)} is not a lower-case name such as "lora"`,
    );
  }
  const training = m.training;
  if (
    typeof training !== 'object' ||
    training === null ||
    !(training.defaultLearningRate > 0) ||
    !Array.isArray(training.options) ||
    typeof training.parameterCounts !== 'function'
  ) {
    throw new RegistryError(
      `${what} implements contract ${method.specificationVersion} but has no valid training block (defaultLearningRate > 0, options, parameterCounts)`,
    );
  }
  for (const other of methods.values()) {
    if (other.peftType !== method.peftType && isTrainingCapable(other) && other.name === m.name) {
      throw new RegistryError(
        `${what} is named ${JSON.stringify(m.name)}, but ${other.packageName} (peft_type ${other.peftType}) already registered that name`,
      );
    }
  }
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

/** Every registered method, v1 and v2 (`isTrainingCapable` picks those usable by name for training). */
export function registeredMethods(): AnyPeftMethod[] {
  return [...methods.values()];
}

/**
 * The v2 method called `name` (case-insensitive), e.g. "lora". An unknown name lists the known ones; a
 * v1 method whose peft_type matches is a MethodContractError saying it must implement contract v2.
 */
export function methodByName(name: string): AnyTrainingPeftMethod {
  const wanted = name.toLowerCase();
  const all = registeredMethods();
  const found = all.find((m) => isTrainingCapable(m) && m.name.toLowerCase() === wanted);
  if (found && isTrainingCapable(found)) return found;
  const v1 = all.filter((m) => !isTrainingCapable(m));
  const sameType = v1.find((m) => m.peftType.toLowerCase() === wanted);
  if (sameType) throw new MethodContractError(sameType);
  const known = all.filter(isTrainingCapable).map((m) => m.name);
  const unnamed = v1.length
    ? `; registered without a name: ${v1.map((m) => `${m.peftType} (${m.packageName})`).join(', ')}, which must implement contract v2 (add name and training) to be used by name`
    : '';
  throw new RegistryError(
    `no PEFT method named ${JSON.stringify(name)} is registered (known: ${known.length ? known.join(', ') : 'none'}${unnamed}); ` +
      `if it comes from a package, install it and import it first (e.g. import '${packageForPeftType(name)}')`,
  );
}
