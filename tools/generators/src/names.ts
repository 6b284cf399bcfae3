/** Every spelling of a new package's name that the templates use, each as a `{{placeholder}}`. */
export interface TemplateNames {
  /** As typed: "ia3", "ln_tuning", "int8-rows". */
  readonly name: string;
  /** npm package, e.g. "@peft/ia3", "@peft/quant-int8-rows". */
  readonly packageName: string;
  /** Folder below packages/, e.g. "ia3", "quant-int8-rows". */
  readonly folder: string;
  /** camelCase for functions and constants: "lnTuning", "int8Rows". */
  readonly camelName: string;
  /** PascalCase for classes and types: "LnTuning", "Int8Rows". */
  readonly pascalName: string;
  /** snake_case for parameter and tensor names: "ln_tuning", "int8_rows". */
  readonly snakeName: string;
  /** PEFT's `peft_type` for a method ("LN_TUNING"); the scheme name for a quantizer ("int8-rows"). */
  readonly typeName: string;
  /** UPPER_SNAKE for constants and error codes: "LN_TUNING", "INT8_ROWS". */
  readonly constantName: string;
}

export class GeneratorError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GeneratorError';
  }
}

function words(name: string): string[] {
  return name.split(/[-_]/);
}

function capitalise(word: string): string {
  return word.charAt(0).toUpperCase() + word.slice(1);
}

function spellings(
  name: string,
): Pick<TemplateNames, 'camelName' | 'pascalName' | 'snakeName' | 'constantName'> {
  const parts = words(name);
  const pascalName = parts.map(capitalise).join('');
  return {
    pascalName,
    camelName: pascalName.charAt(0).toLowerCase() + pascalName.slice(1),
    snakeName: parts.join('_'),
    constantName: parts.join('_').toUpperCase(),
  };
}

/**
 * A method is named by its lower-case `peft_type` ("ia3", "ln_tuning"): the bridge tells users of an
 * unknown adapter type to install `@peft/<lower-case peft_type>`, so the package name must be exactly that.
 */
export function methodNames(name: string): TemplateNames {
  if (!/^[a-z][a-z0-9]*(_[a-z0-9]+)*$/.test(name)) {
    throw new GeneratorError(
      `method name ${JSON.stringify(name)}: use the lower-case PEFT peft_type, letters, digits and single underscores ` +
        '(e.g. "ia3", "ln_tuning"), because adapters are looked up as @peft/<lower-case peft_type>',
    );
  }
  return {
    name,
    packageName: `@peft/${name}`,
    folder: name,
    ...spellings(name),
    typeName: name.toUpperCase(),
  };
}

/** A quantizer "<name>" becomes `@peft/quant-<name>` with scheme and linear-format name "<name>". */
export function quantizerNames(name: string): TemplateNames {
  if (!/^[a-z][a-z0-9]*(-[a-z0-9]+)*$/.test(name)) {
    throw new GeneratorError(
      `quantizer name ${JSON.stringify(name)}: use lower-case letters, digits and single hyphens (e.g. "int8-rows")`,
    );
  }
  if (name.startsWith('quant-')) {
    throw new GeneratorError(
      `quantizer name ${JSON.stringify(name)}: leave out "quant-"; the package is @peft/quant-<name>`,
    );
  }
  return {
    name,
    packageName: `@peft/quant-${name}`,
    folder: `quant-${name}`,
    ...spellings(name),
    typeName: name,
  };
}
