// Run with the installed package's folder as cwd: resolves each specifier given as JSON in argv[2]
// the way Node's ESM loader would from inside that package, and prints what failed.
const specifiers = JSON.parse(process.argv[2]);
const failures = [];
for (const specifier of specifiers) {
  try {
    import.meta.resolve(specifier);
  } catch (error) {
    failures.push({ specifier, error: `${error.code ?? ''} ${error.message}`.trim() });
  }
}
console.log(JSON.stringify(failures));
