#!/usr/bin/env node
// `pnpm new:method <name>` / `pnpm new:quantizer <name>` (root scripts) run this from the repository root.
import { type GeneratorKind, generate } from './generate.js';
import { GeneratorError } from './names.js';

const USAGE = `usage: peft-new method <peft_type in lower case>    e.g. peft-new method ia3
       peft-new quantizer <name>                   e.g. peft-new quantizer int8-rows
options: --root <workspace root> (default: the current directory)`;

async function main(argv: string[]): Promise<number> {
  const rootAt = argv.indexOf('--root');
  const root = rootAt >= 0 ? argv[rootAt + 1] : process.cwd();
  const rest = rootAt >= 0 ? argv.filter((_, i) => i !== rootAt && i !== rootAt + 1) : argv;
  const [kind, name, ...extra] = rest;
  if ((kind !== 'method' && kind !== 'quantizer') || !name || extra.length > 0 || !root) {
    console.error(USAGE);
    return 2;
  }
  try {
    const { names, files } = await generate(kind as GeneratorKind, name, root);
    console.log(`created ${names.packageName}:\n${files.map((f) => `  ${f}`).join('\n')}\n`);
    console.log(
      `next:\n  pnpm install\n  pnpm turbo run build --filter=${names.packageName}\n` +
        `  pnpm --filter ${names.packageName} test     # its own tests and its rows of the shared matrix\n` +
        '  then follow the checklist in CONTRIBUTING.md',
    );
    return 0;
  } catch (error) {
    if (error instanceof GeneratorError) {
      console.error(`error: ${error.message}`);
      return 1;
    }
    throw error;
  }
}

process.exitCode = await main(process.argv.slice(2));
