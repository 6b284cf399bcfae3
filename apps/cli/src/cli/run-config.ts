// `--config run.yaml|run.json`: a command's long flags as the keys of a file, so a run's settings can be kept,
// reviewed and shared. A flag given on the command line wins over the file; a key that is no flag is an error.
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { type Command, InvalidArgumentError, type Option } from 'commander';
import { parse as parseYaml } from 'yaml';

/** `grad-accum-steps` and `gradAccumSteps` name the same flag. */
function camelCase(key: string): string {
  return key.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

async function readConfigFile(command: Command, path: string): Promise<Record<string, unknown>> {
  const text = await readFile(path, 'utf8').catch((error: Error) =>
    command.error(`error: --config ${path} cannot be read: ${error.message}`),
  );
  let value: unknown;
  try {
    value = extname(path).toLowerCase() === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    command.error(
      `error: --config ${path} is not valid ${extname(path) === '.json' ? 'JSON' : 'YAML'}: ${(error as Error).message}`,
    );
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    command.error(`error: --config ${path} must hold a mapping of flag names to values`);
  }
  return value as Record<string, unknown>;
}

function optionForKey(command: Command, key: string): Option | undefined {
  const attribute = camelCase(key);
  const matches = command.options.filter((o) => o.long && o.attributeName() === attribute);
  // `--double-quant` and `--no-double-quant` share an attribute: a boolean value sets it either way.
  return matches.find((o) => !o.negate) ?? matches[0];
}

/** The value a flag would get from `text` on the command line (its parser and choices applied). */
function parseValue(command: Command, option: Option, key: string, given: unknown, path: string): unknown {
  const where = `--config ${path}: ${key}`;
  if (!option.required && !option.optional) {
    if (typeof given !== 'boolean') command.error(`error: ${where} is a switch; give true or false`);
    return given;
  }
  if (typeof given === 'object' && given !== null && !Array.isArray(given)) {
    command.error(`error: ${where} must be a value, not a mapping`);
  }
  const text = Array.isArray(given) ? given.map(String).join(',') : String(given);
  if (option.argChoices && !option.argChoices.includes(text)) {
    command.error(`error: ${where}: ${JSON.stringify(text)} is not one of ${option.argChoices.join(', ')}`);
  }
  if (!option.parseArg) return text;
  try {
    return option.parseArg(text, undefined);
  } catch (error) {
    if (error instanceof InvalidArgumentError) command.error(`error: ${where}: ${error.message}`);
    throw error;
  }
}

/**
 * Sets the options named in the `--config` file that the command line did not give (source `config`), and
 * returns the command's options afterwards. Usage errors (exit code 2) name the file and the key.
 */
export async function applyRunConfig<T extends Record<string, unknown>>(
  command: Command,
  configOption = 'config',
): Promise<T> {
  const path = command.getOptionValue(configOption) as string | undefined;
  if (path) {
    const config = await readConfigFile(command, path);
    for (const [key, value] of Object.entries(config)) {
      const option = camelCase(key) === configOption ? undefined : optionForKey(command, key);
      if (!option) {
        command.error(
          `error: --config ${path}: ${JSON.stringify(key)} is not a flag of \`peft ${command.name()}\` (see --help for the flags)`,
        );
      }
      const attribute = option.attributeName();
      if (command.getOptionValueSource(attribute) === 'cli') continue;
      command.setOptionValueWithSource(attribute, parseValue(command, option, key, value, path), 'config');
    }
  }
  return { ...command.opts() } as T;
}

/** Whether a flag's value came from the user (the command line or the `--config` file), not a default. */
export function givenByUser(command: Command, attribute: string): boolean {
  const source = command.getOptionValueSource(attribute);
  return source === 'cli' || source === 'config';
}
