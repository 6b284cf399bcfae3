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
