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

/** A contract implementation declares a specification version this package does not know. */
export class SpecificationVersionError extends PeftError {
  constructor(what: string, got: unknown, supported: readonly string[]) {
    super(
      'SPECIFICATION_VERSION',
      `${what} implements specification version ${JSON.stringify(got)}, but this @peft/core supports ` +
        `${supported.map((v) => JSON.stringify(v)).join(', ')}. Upgrade the older of the two packages so they agree.`,
    );
  }
}
