/**
 * Every error peft.js throws on purpose is a `PeftError` with a stable `code`, so callers can
 * branch on `err.code` instead of parsing messages. Messages say what went wrong, where (file,
 * tensor, layer path) and, when there is one, what to do about it.
 */
export class PeftError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A safetensors file (or buffer) is malformed, truncated or lies about its contents. */
export class SafetensorsError extends PeftError {
  readonly file: string;
  readonly tensor: string | undefined;

  constructor(file: string, tensor: string | undefined, detail: string, options?: { cause?: unknown }) {
    super('SAFETENSORS_INVALID', `${file}${tensor === undefined ? '' : ` [${tensor}]`}: ${detail}`, options);
    this.file = file;
    this.tensor = tensor;
  }
}

/** A tensor does not have the shape or dtype the caller requires. */
export class ShapeMismatchError extends PeftError {
  constructor(message: string) {
    super('SHAPE_MISMATCH', message);
  }
}

/** A dotted module path does not name a module in the tree. */
export class ModulePathError extends PeftError {
  readonly path: string;

  constructor(path: string, detail: string) {
    super('MODULE_PATH', `module path "${path}": ${detail}`);
    this.path = path;
  }
}

/** A configuration value is missing, malformed or unsupported. */
export class ConfigError extends PeftError {
  constructor(message: string) {
    super('CONFIG_INVALID', message);
  }
}

/** A weight contains NaN or ±Inf where finite values are required. */
export class NonFiniteWeightError extends PeftError {
  readonly tensor: string;
  readonly index: number;

  constructor(tensor: string, index: number, value: number) {
    super('NON_FINITE_WEIGHT', `tensor "${tensor}" has a non-finite value ${value} at flat index ${index}`);
    this.tensor = tensor;
    this.index = index;
  }
}

/** A registry lookup (linear format, PEFT method, ...) found nothing or a conflicting entry. */
export class RegistryError extends PeftError {
  constructor(message: string) {
    super('REGISTRY', message);
  }
}

/** Which packages are on each side of a contract, so an error can say which one to upgrade. */
export interface ContractPackages {
  /** The package that checks the contract (it owns the list of supported versions), e.g. "@peft/core". */
  readonly host: string;
  /** The package that implements it, when known (e.g. a method's `packageName`). */
  readonly implementer?: string;
}

function versionNumber(version: unknown): number {
  const match = typeof version === 'string' ? /^v(\d+)$/.exec(version) : null;
  return match ? Number(match[1]) : Number.NaN;
}

/**
 * A contract implementation declares a specification version this package does not know. The message
 * says which side to upgrade: the host when the implementation is newer than every version it knows,
 * the implementing package when it is older.
 */
export class SpecificationVersionError extends PeftError {
  readonly got: unknown;
  readonly supported: readonly string[];

  constructor(
    what: string,
    got: unknown,
    supported: readonly string[],
    packages: ContractPackages = { host: '@peft/core' },
  ) {
    const known = supported.map(versionNumber);
    const version = versionNumber(got);
    const implementer = packages.implementer ?? 'the package that provides it';
    const advice =
      version > Math.max(...known)
        ? `Upgrade ${packages.host}: ${what} was built for a newer contract than this one knows.`
        : version < Math.min(...known)
          ? `Upgrade ${implementer} to a release built for ${JSON.stringify(supported.at(-1))}: it was built for an older contract.`
          : `Upgrade whichever of ${packages.host} and ${implementer} is older so they agree.`;
    super(
      'SPECIFICATION_VERSION',
      `${what} implements specification version ${JSON.stringify(got)}, but this ${packages.host} supports ` +
        `${supported.map((v) => JSON.stringify(v)).join(', ')}. ${advice}`,
    );
    this.got = got;
    this.supported = supported;
  }
}
