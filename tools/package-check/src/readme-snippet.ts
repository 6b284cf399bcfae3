import ts from 'typescript';

/**
 * The first ```ts / ```js block of a README: the snippet every package README opens with. READMEs keep
 * it TypeScript (what users write); it is type-checked against the installed types and run after
 * TypeScript's own transpiler erases the types (Node 20 cannot strip types itself).
 */
export function firstCodeBlock(markdown: string): string | null {
  const match = /^```(?:ts|typescript|js|javascript)\s*\n([\s\S]*?)^```/m.exec(markdown);
  return match ? match[1]! : null;
}

/** Type-erased ES2022 module code, imports and top-level await kept as written. */
export function stripTypes(source: string, fileName: string): string {
  const { outputText, diagnostics } = ts.transpileModule(source, {
    fileName,
    reportDiagnostics: true,
    compilerOptions: {
      module: ts.ModuleKind.ESNext,
      target: ts.ScriptTarget.ES2022,
      verbatimModuleSyntax: false,
      sourceMap: false,
    },
  });
  if (diagnostics && diagnostics.length > 0) {
    throw new Error(
      `${fileName}: ${diagnostics.map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n')).join('; ')}`,
    );
  }
  return outputText;
}

/** A tsconfig for snippets as an application would compile them against the installed packages. */
export const SNIPPET_TSCONFIG = {
  compilerOptions: {
    target: 'ES2022',
    lib: ['ES2022', 'DOM'],
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: ['node'],
  },
  include: ['*/snippet.ts'],
};

/** Text each snippet must print, as its README's comments state it. */
export const README_PRINTS: Readonly<Record<string, readonly string[]>> = {
  '@peft/core': ['Float32Array(5)', '1e-05 nan NaN'],
  '@peft/backends': ['wasm'],
  '@peft/quant-bnb4': ['16384 [ 256, 128 ]', '256 128 4.393', '[ 2, 3, 256 ]'],
  '@peft/adapter-bridge': ['trainable params: 3,712 || all params: 7,824 || trainable%: 47.4438'],
  '@peft/vera': ['trainable params: 448 || all params: 4,560 || trainable%: 9.8246'],
  '@peft/lora': ['trainable params: 896 || all params: 5,008 || trainable%: 17.8914'],
  '@peft/models': ['[ 1, 4, 256 ] 5.6'],
  '@peft/training': ['true 10 true'],
};

/** The command lines of a README's first ```sh block (a command's README opens with one), comments dropped. */
export function firstShellLines(markdown: string): string[] | null {
  const match = /^```(?:sh|shell|bash|console)\s*\n([\s\S]*?)^```/m.exec(markdown);
  if (!match) return null;
  return match[1]!
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
}
